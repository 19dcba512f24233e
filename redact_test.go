package ultracart_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// The secrets of the sweep. The client secret has characters that URL,
// JSON and HTML encoding change, so that an echo of each form is covered.
const (
	secCode         = "sec-code-SECRET-1a2b"
	secClientSecret = `sec/client+SECRET=3c4d <'&"> é`
	secAccess       = "sec-at-SECRET-5e6f"
	secRefresh      = "sec-rt-SECRET-7a8b"
	secDevice       = "sec-dc-SECRET-1e2f"
)

var secAll = []string{secCode, secClientSecret, secAccess, secRefresh, secDevice}

func secExpired() *oauth2.Token {
	return &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", RefreshToken: secRefresh, Expiry: time.Now().Add(-time.Hour)}
}

// secretFields are the request fields that carry a secret; the echo server
// repeats them first, so that they fall within the excerpt an error quotes
// of a body that is not JSON.
var secretFields = []string{"Authorization", "code", "refresh_token", "client_secret", "device_code", "token"}

// echoMode is how the echo server answers, chosen by the first segment of
// the path: body puts the echo in every text field of its format.
type echoMode struct {
	name, contentType string
	status            int
	body              func(echo string) string
}

var echoModes = []echoMode{
	{"oauth", "application/json", http.StatusBadRequest, echoRFC},
	{"oauth200", "application/json", http.StatusOK, echoRFC},
	{"envelope", "application/json", http.StatusUnauthorized, echoEnvelope},
	{"envelope200", "application/json", http.StatusOK, echoEnvelope},
	{"html", "text/html", http.StatusBadGateway, func(e string) string { return "<html><body><p>" + e + "</p></body></html>" }},
	{"form", "application/x-www-form-urlencoded", http.StatusBadRequest, func(e string) string {
		return url.Values{"error": {"invalid_grant " + e}, "error_description": {e}}.Encode()
	}},
	{"text", "text/plain", http.StatusServiceUnavailable, func(e string) string { return e }},
	{"message", "application/json", http.StatusOK, func(e string) string { // a revoke answer
		return jsonText(map[string]any{"successful": false, "message": e})
	}},
	{"redirect", "", http.StatusTemporaryRedirect, nil},                                                                         // a redirect elsewhere, the echo in its query
	{"oauth-header", "application/json", http.StatusTooManyRequests, func(string) string { return `{"error":"rate_limited"}` }}, // the echo only in UC-REST-ERROR
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func echoRFC(e string) string {
	return jsonText(map[string]string{"error": "invalid_grant " + e, "error_description": e, "error_uri": "https://docs.example/" + e})
}

func echoEnvelope(e string) string {
	return jsonText(map[string]any{"error": map[string]string{
		"developer_message": e, "user_message": e, "more_info": e, "object_id": e, "error_code": e,
	}, "success": false, "message": e})
}

// echo answers every request with an error that repeats all the request
// carried: every form and query value, decoded and in each form that
// secretForms predicts, the password of Basic credentials, decoded, the raw
// body (URL-encoded), and every header, in every text field the answer has,
// and in the UC-REST-ERROR header.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	for k, vs := range r.URL.Query() {
		form[k] = append(form[k], vs...)
	}
	var first, rest []string
	for _, k := range secretFields {
		for _, v := range form[k] {
			first = append(first, secretForms(v)...)
		}
		if h := r.Header.Get(k); h != "" {
			first = append(first, h)
		}
	}
	if _, password, ok := r.BasicAuth(); ok {
		decoded, _ := url.QueryUnescape(password) // RFC 6749, section 2.3.1
		first = append(first, secretForms(decoded)...)
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest = append(rest, k+"="+strings.Join(form[k], ","))
	}
	for k, vs := range r.Header {
		rest = append(rest, k+": "+strings.Join(vs, ","))
	}
	rest = append(rest, "body: "+string(body))
	echo := strings.Join(append(first, rest...), " ")
	mode, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")

	w.Header().Set("UC-REST-ERROR", strings.NewReplacer("\r", " ", "\n", " ").Replace(echo))
	i := slices.IndexFunc(echoModes, func(m echoMode) bool { return m.name == mode })
	switch {
	case i < 0:
		w.WriteHeader(http.StatusNotFound)
	case echoModes[i].body == nil:
		loc := "http://localhost:1/landed"
		if r.Method == http.MethodPost {
			// Token and revoke requests are never redirected elsewhere,
			// so the echo in the Location must not show either. (A REST
			// answer that puts the token in a Location publishes it
			// itself: the client follows it like any redirect.)
			loc += "?" + url.Values{"echo": {echo}}.Encode()
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(echoModes[i].status)
	default:
		w.Header().Set("Content-Type", echoModes[i].contentType)
		w.WriteHeader(echoModes[i].status)
		io.WriteString(w, echoModes[i].body(echo))
	}
}

type secretCall struct {
	name string
	// ok: a nil error is right (CheckResponse of a 2xx answer).
	ok  bool
	run func() error
	err error
}

// echoCalls returns a call of every exported path that can fail, for each
// of the echo server's modes, served in memory by echo.
func echoCalls() []*secretCall {
	ctx := newMemServer(echo).ctx()
	valid := &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", RefreshToken: secRefresh, Expiry: time.Now().Add(time.Hour)}
	da := func() *oauth2.DeviceAuthResponse {
		return &oauth2.DeviceAuthResponse{DeviceCode: secDevice, Interval: 1}
	}
	get := func(client *http.Client, u string, check bool) error {
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if !check {
			return fmt.Errorf("got an answer (%d) where a token request should have failed", resp.StatusCode)
		}
		return ultracart.CheckResponse(resp)
	}

	var calls []*secretCall
	add := func(name string, ok bool, run func() error) {
		calls = append(calls, &secretCall{name: name, ok: ok, run: run})
	}
	for _, m := range echoModes {
		conf := testConfigAt("http://uc.test/" + m.name)
		items := "http://uc.test/" + m.name + "/rest/v2/item/items"
		plain := conf.Config
		is2xx := m.status >= 200 && m.status <= 299
		p := m.name + "/"
		add(p+"Config.Exchange", false, func() error { _, err := conf.Exchange(ctx, secCode); return err })
		// The client secret in Basic credentials, URL-encoded then base64-encoded.
		basic := *conf
		basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		add(p+"Config.Exchange/Basic", false, func() error { _, err := basic.Exchange(ctx, secCode); return err })
		add(p+"Config.TokenSource", false, func() error { _, err := conf.TokenSource(ctx, secExpired()).Token(); return err })
		add(p+"Config.Client/refresh", false, func() error { return get(conf.Client(ctx, secExpired()), items, false) })
		add(p+"NewClient/CheckResponse", is2xx, func() error {
			return get(ultracart.NewClient(ctx, oauth2.StaticTokenSource(valid)), items, true)
		})
		add(p+"Config.DeviceAuth", false, func() error { _, err := conf.DeviceAuth(ctx); return err })
		add(p+"Config.DeviceAccessToken", false, func() error { _, err := conf.DeviceAccessToken(ctx, da()); return err })
		add(p+"Config.Revoke", false, func() error { return conf.Revoke(ctx, secAccess) })
		add(p+"PersistentTokenSource", false, func() error {
			_, err := ultracart.PersistentTokenSource(ctx, &plain, ultracart.NewMemoryStore(secExpired())).Token()
			return err
		})
		add(p+"NewContext/Exchange", false, func() error { _, err := plain.Exchange(ultracart.NewContext(ctx), secCode); return err })
		add(p+"NewContext/DeviceAuth", false, func() error { _, err := plain.DeviceAuth(ultracart.NewContext(ctx)); return err })
		add(p+"NewContext/DeviceAccessToken", false, func() error {
			_, err := plain.DeviceAccessToken(ultracart.NewContext(ctx), da())
			return err
		})
	}

	return calls
}

// TestSecretHygiene collects every error the package returns from every
// exported path that can fail, against a server that echoes every secret it
// receives into every text it sends back, and searches each error, formatted
// with %v, %+v and %#v (and every error of its chain), for every secret of
// the test, in each form secretForms predicts. (Calls that get no answer are
// TestFaultMatrix's; ErrPersist's text is TestPersistentTokenSourcePersistFailure's.)
func TestSecretHygiene(t *testing.T) {
	t.Parallel()
	var calls []*secretCall
	// The calls to the echo server go through an in-memory transport in a
	// bubble, where the device polls wait their interval at no cost.
	synctest.Test(t, func(t *testing.T) {
		calls = echoCalls()
		for _, c := range calls {
			c.err = c.run()
		}
	})
	byName := map[string]*secretCall{}
	for _, c := range calls {
		byName[c.name] = c
		if c.ok {
			assert.NoError(t, c.err, c.name)
			continue
		}
		if !assert.Error(t, c.err, c.name) {
			continue
		}
		text := c.err.Error()
		assert.True(t, strings.HasPrefix(text, "ultracart: ") || strings.HasPrefix(text, "oauth2: ") ||
			strings.HasPrefix(text, "Get ") || strings.HasPrefix(text, "Post "), "%s: %s", c.name, text)
		for _, leak := range findSecrets(c.err, secAll...) {
			t.Errorf("%s: an error text carries a secret: %s", c.name, leak)
		}
	}

	// The redaction really happened where the echo was.
	for name, fields := range map[string]func(*ultracart.Error) []string{
		"oauth/Config.Exchange":            func(e *ultracart.Error) []string { return []string{e.Code, e.Description, e.RESTError} },
		"envelope/NewClient/CheckResponse": func(e *ultracart.Error) []string { return []string{e.DeveloperMessage, e.RESTError} },
	} {
		var e *ultracart.Error
		require.ErrorAs(t, byName[name].err, &e)
		for _, f := range fields(e) {
			assert.Contains(t, f, "[redacted]", name)
		}
	}
}

// testConfigAt is a Config for the server at baseURL, with the sweep's
// client secret.
func testConfigAt(baseURL string) *ultracart.Config {
	return &ultracart.Config{Config: oauth2.Config{
		ClientID:     "sec-client",
		ClientSecret: secClientSecret,
		Endpoint:     ultracart.EndpointAt(baseURL + "/rest/v2"),
		RedirectURL:  "https://app.example/callback",
		Scopes:       []string{ultracart.ScopeItemRead},
	}}
}

// secretForms are the encodings of s that a server may echo and the package
// can predict: raw, query- and path-escaped, JSON-escaped (with and without
// encoding/json's HTML escaping) and HTML-escaped.
func secretForms(s string) []string {
	jsonForm := func(html bool) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		enc.Encode(s)
		return strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:]
	}
	return []string{s, url.QueryEscape(s), url.PathEscape(s), jsonForm(true), jsonForm(false), html.EscapeString(s)}
}

// assertNoSecrets checks that err, formatted with %v, %+v and %#v, and
// every error of its chain carry none of secrets, in the forms a request
// carries them.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, leak := range findSecrets(err, secrets...) {
		t.Errorf("an error text carries a secret: %s", leak)
	}
}

// findSecrets returns, for each of secrets (raw or URL-encoded) that err
// carries, the first text of err that carries it.
func findSecrets(err error, secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		forms = append(forms, secretForms(s)...)
	}
	texts := []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for queue := []error{err}; len(queue) > 0; queue = queue[1:] {
		e := queue[0]
		if e == nil {
			continue
		}
		texts = append(texts, fmt.Sprintf("%v", e), fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			queue = append(queue, u.Unwrap())
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
	var leaks []string
	for _, s := range forms {
		for _, text := range texts {
			if strings.Contains(text, s) {
				leaks = append(leaks, fmt.Sprintf("%q in %s", s, text))
				break
			}
		}
	}
	return leaks
}
