package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// encodings are the forms in which a secret can reach a message.
var encodings = map[string]func(string) string{
	"raw":          func(s string) string { return s },
	"query":        url.QueryEscape,
	"path":         url.PathEscape,
	"json":         func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) },
	"html":         html.EscapeString,
	"go quoted":    func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] },
	"json no html": func(s string) string { return strings.NewReplacer(`"`, `\"`, `\`, `\\`).Replace(s) },
}

// assertNoForm checks that out holds no form of any of secrets.
func assertNoForm(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for name, enc := range encodings {
			assert.NotContains(t, out, enc(s), "%s form of %q", name, s)
		}
	}
}

// TestStderrRedactsSecrets: issue 17 point 3. Whatever the command writes
// on stderr goes through the redaction of every secret it knows, in every
// encoding: a token endpoint that redirects to a URL carrying the refresh
// token (in its path and its query) and then fails, or answers 404 with a
// body that echoes the secrets, puts none of them on stderr.
func TestStderrRedactsSecrets(t *testing.T) {
	const (
		access  = `uc-at-a&b <c> "d" é/e+f g%h`
		refresh = `uc-rt-r&s <t> "u" ü/v+w x%y`
		secret  = `cs-1&2 <3> "4" ö/5+6 7%8`
	)
	echo := strings.Join([]string{
		encodings["json"](refresh), encodings["html"](refresh), encodings["path"](refresh),
		encodings["json"](secret), encodings["html"](secret), encodings["go quoted"](secret),
		encodings["json"](access), encodings["html"](access),
	}, " ")
	hop := "/rest/v2/oauth/token/" + refresh // as the fake sees the path: decoded
	location := "/rest/v2/oauth/token/" + url.PathEscape(refresh) + "?rt=" + url.QueryEscape(refresh) + "&cs=" + url.QueryEscape(secret)
	tests := []struct {
		name string
		next fakeuc.Fault // the answer at the URL redirected to
	}{
		{"not found, body echoes", fakeuc.Fault{Status: 404, Body: `{"error":"` + echo + `"}`, Header: http.Header{"Content-Type": {"application/json"}}}},
		{"not found, text body", fakeuc.Fault{Status: 404, Body: echo}},
		{"connection reset", fakeuc.Fault{Reset: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.env["ULTRACART_CLIENT_SECRET"] = secret
			c.saveToken(&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)})
			c.fake.Fail(fakeuc.TokenPath, fakeuc.Fault{Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {location}}, Times: 1})
			c.fake.Fail(hop, tt.next)
			r := c.run("token")
			assert.Equal(t, exitFailure, r.code, r.stderr)
			assert.Empty(t, r.stdout)
			require.Contains(t, r.stderr, "ultracart-token: ")
			assert.Contains(t, r.stderr, "[redacted]")
			assertNoForm(t, r.stderr, access, refresh, secret)
			_, ok := c.fake.LastRequest(hop)
			assert.True(t, ok, "the redirect was followed: %s", r.stderr)
		})
	}
}

// TestRedactor: every secret the command knows, in every form, is
// replaced, and a secret that holds another is replaced whole.
func TestRedactor(t *testing.T) {
	secrets := []string{`at-1&2 <3> "4"`, `rt/é+ü %`, `code=x;y`, `state'z\`, `cs:1@2#3`, "short"}
	r := &redactor{}
	r.add(secrets...)
	r.add("", "") // nothing to redact
	for _, s := range secrets {
		for name, enc := range encodings {
			t.Run(name+" "+s, func(t *testing.T) {
				assert.Equal(t, "a [redacted] b", r.clean("a "+enc(s)+" b"))
			})
		}
	}
	var sb strings.Builder
	w := r.writer(&sb)
	_, err := w.Write([]byte("x " + url.PathEscape(secrets[1]) + "\n"))
	require.NoError(t, err)
	assert.Equal(t, "x [redacted]\n", sb.String())
	assert.Equal(t, "nothing secret", r.clean("nothing secret"))
	assert.Equal(t, "[redacted]", (&redactor{secrets: nil}).clean("[redacted]"))
}
