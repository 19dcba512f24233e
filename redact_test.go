package ultracart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// The secrets of the sweep. The client secret has characters that URL
// encoding changes, so that an echo of the raw form is covered too.
const (
	secCode         = "sec-code-SECRET-1a2b"
	secClientSecret = "sec/client+SECRET=3c4d"
	secAccess       = "sec-at-SECRET-5e6f"
	secRefresh      = "sec-rt-SECRET-7a8b"
	secState        = "sec-state-SECRET-9c0d"
	secDevice       = "sec-dc-SECRET-1e2f"
)

var secAll = []string{secCode, secClientSecret, secAccess, secRefresh, secState, secDevice}

// secretFields are the request fields that carry a secret; the echo server
// repeats them first, so that they fall within the excerpt an error quotes
// of a body that is not JSON.
var secretFields = []string{"Authorization", "code", "refresh_token", "client_secret", "device_code", "token", "state"}

// echoMode is how the echo server answers: the first segment of the path.
type echoMode struct {
	name   string
	status int
}

var echoModes = []echoMode{
	{"oauth", http.StatusBadRequest},             // RFC 6749 error, the echo in every field
	{"oauth200", http.StatusOK},                  // the same at 200
	{"envelope", http.StatusUnauthorized},        // ErrorResponse envelope, the echo in every field
	{"html", http.StatusBadGateway},              // an HTML page quoting the echo
	{"form", http.StatusBadRequest},              // a form-encoded RFC 6749 error
	{"text", http.StatusServiceUnavailable},      // plain text
	{"message", http.StatusOK},                   // a revoke answer: {"successful":false,"message":…}
	{"redirect", http.StatusTemporaryRedirect},   // a redirect elsewhere, the echo in its query
	{"envelope200", http.StatusOK},               // the envelope at 200
	{"oauth-header", http.StatusTooManyRequests}, // the echo only in UC-REST-ERROR
}

// newEchoServer answers every request with an error that repeats all the
// request carried: every form and query value, decoded, the raw body
// (URL-encoded), and every header, in every text field the answer has, and
// in the UC-REST-ERROR header.
func newEchoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		for k, vs := range r.URL.Query() {
			form[k] = append(form[k], vs...)
		}
		var first, rest []string
		for _, k := range secretFields {
			first = append(first, form[k]...)
			if h := r.Header.Get(k); h != "" {
				first = append(first, h)
			}
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

		h := w.Header()
		h.Set("UC-REST-ERROR", strings.NewReplacer("\r", " ", "\n", " ").Replace(echo))
		reply := func(status int, contentType, body string) {
			if contentType != "" {
				h.Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
		js := func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		}
		rfc := js(map[string]string{"error": "invalid_grant " + echo, "error_description": echo, "error_uri": "https://docs.example/" + echo})
		envelope := js(map[string]any{"error": map[string]string{
			"developer_message": echo, "user_message": echo, "more_info": echo, "object_id": echo, "error_code": echo,
		}, "success": false, "message": echo})
		switch mode {
		case "oauth":
			reply(http.StatusBadRequest, "application/json", rfc)
		case "oauth200":
			reply(http.StatusOK, "application/json", rfc)
		case "envelope":
			reply(http.StatusUnauthorized, "application/json", envelope)
		case "envelope200":
			reply(http.StatusOK, "application/json", envelope)
		case "html":
			reply(http.StatusBadGateway, "text/html", "<html><body><p>"+echo+"</p></body></html>")
		case "form":
			reply(http.StatusBadRequest, "application/x-www-form-urlencoded", url.Values{"error": {"invalid_grant " + echo}, "error_description": {echo}}.Encode())
		case "text":
			reply(http.StatusServiceUnavailable, "text/plain", echo)
		case "message":
			reply(http.StatusOK, "application/json", js(map[string]any{"successful": false, "message": echo}))
		case "redirect":
			loc := "http://localhost:1/landed"
			if r.Method == http.MethodPost {
				// Token and revoke requests are never redirected elsewhere,
				// so the echo in the Location must not show either. (A REST
				// answer that puts the token in a Location publishes it
				// itself: the client follows it like any redirect.)
				loc += "?" + url.Values{"echo": {echo}}.Encode()
			}
			h.Set("Location", loc)
			reply(http.StatusTemporaryRedirect, "", "")
		case "oauth-header":
			reply(http.StatusTooManyRequests, "application/json", `{"error":"rate_limited"}`)
		default:
			reply(http.StatusNotFound, "", "")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secretCall is one call of the sweep and the error it returned.
type secretCall struct {
	name string
	// ok: a nil error is right (CheckResponse of a 2xx answer).
	ok  bool
	run func() error
	err error
}

// TestSecretHygiene collects every error the package returns from every
// exported path that can fail, against a server that echoes every secret it
// receives into every text it sends back, and searches each error, formatted
// with %v, %+v and %#v (and every error of its chain), for every secret of
// the test, raw and URL-encoded.
//
// The package can only redact what the request carried: it cannot know a
// secret it did not send. The echo server repeats only what it received, so
// every secret is looked for in every error.
func TestSecretHygiene(t *testing.T) {
	t.Parallel() // it waits more than it computes: overlap it with the other slow tests
	srv := newEchoServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	expired := func() *oauth2.Token {
		return &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", RefreshToken: secRefresh, Expiry: time.Now().Add(-time.Hour)}
	}
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
		base := srv.URL + "/" + m.name + "/rest/v2"
		items := base + "/item/items"
		conf := &ultracart.Config{Config: oauth2.Config{
			ClientID:     "sec-client",
			ClientSecret: secClientSecret,
			Endpoint:     ultracart.EndpointAt(base),
			RedirectURL:  "https://app.example/callback",
			Scopes:       []string{ultracart.ScopeItemRead},
		}}
		plain := conf.Config
		is2xx := m.status >= 200 && m.status <= 299
		fileStore := func(name string) *ultracart.FileStore {
			s := ultracart.NewFileStore(filepath.Join(dir, m.name, name+".json"))
			require.NoError(t, s.Save(ctx, expired()))
			return s
		}
		fs1, fs2 := fileStore("pts"), fileStore("client")
		p := m.name + "/"
		add(p+"Config.Exchange", false, func() error { _, err := conf.Exchange(ctx, secCode); return err })
		add(p+"Config.TokenSource", false, func() error { _, err := conf.TokenSource(ctx, expired()).Token(); return err })
		add(p+"Config.Client/refresh", false, func() error { return get(conf.Client(ctx, expired()), items, false) })
		add(p+"Config.Client/CheckResponse", is2xx, func() error { return get(conf.Client(ctx, valid), items, true) })
		add(p+"NewClient/CheckResponse", is2xx, func() error {
			return get(ultracart.NewClient(ctx, oauth2.StaticTokenSource(valid)), items, true)
		})
		add(p+"Config.DeviceAuth", false, func() error { _, err := conf.DeviceAuth(ctx); return err })
		add(p+"Config.DeviceAccessToken", false, func() error { _, err := conf.DeviceAccessToken(ctx, da()); return err })
		add(p+"Config.Revoke", false, func() error { return conf.Revoke(ctx, secAccess) })
		add(p+"Revoke", false, func() error { return ultracart.Revoke(ctx, &plain, secRefresh) })
		add(p+"PersistentTokenSource/MemoryStore", false, func() error {
			_, err := ultracart.PersistentTokenSource(ctx, &plain, ultracart.NewMemoryStore(expired())).Token()
			return err
		})
		add(p+"PersistentTokenSource/FileStore", false, func() error {
			_, err := ultracart.PersistentTokenSource(ctx, &plain, fs1).Token()
			return err
		})
		add(p+"NewClient/PersistentTokenSource", false, func() error {
			return get(ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, &plain, fs2)), items, false)
		})
		add(p+"NewContext/Exchange", false, func() error { _, err := plain.Exchange(ultracart.NewContext(ctx), secCode); return err })
		add(p+"NewContext/TokenSource", false, func() error {
			_, err := plain.TokenSource(ultracart.NewContext(ctx), expired()).Token()
			return err
		})
		add(p+"NewContext/DeviceAuth", false, func() error { _, err := plain.DeviceAuth(ultracart.NewContext(ctx)); return err })
		add(p+"NewContext/DeviceAccessToken", false, func() error {
			_, err := plain.DeviceAccessToken(ultracart.NewContext(ctx), da())
			return err
		})
	}

	// No answer at all.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	gone := testConfigAt(closed.URL)
	add("no-answer/Config.Exchange", false, func() error { _, err := gone.Exchange(ctx, secCode); return err })
	add("no-answer/Config.Revoke", false, func() error { return gone.Revoke(ctx, secRefresh) })
	add("no-answer/PersistentTokenSource", false, func() error {
		_, err := ultracart.PersistentTokenSource(ctx, &gone.Config, ultracart.NewMemoryStore(expired())).Token()
		return err
	})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	add("canceled/Config.Exchange", false, func() error { _, err := gone.Exchange(canceled, secCode); return err })

	// A rotated refresh token that cannot be saved.
	uc := ultracarttest.NewServer()
	t.Cleanup(uc.Close)
	issued := uc.IssueToken("")
	ucConf := &oauth2.Config{ClientID: "sec-client", Endpoint: uc.Endpoint()}
	add("PersistentTokenSource/ErrPersist", false, func() error {
		tok := *issued
		tok.Expiry = time.Now().Add(-time.Hour)
		_, err := ultracart.PersistentTokenSource(ctx, ucConf, failingStore{ultracart.NewMemoryStore(&tok)}).Token()
		if !errors.Is(err, ultracart.ErrPersist) {
			return fmt.Errorf("want ErrPersist, got %w", err)
		}
		return err
	})

	// The callback.
	callback := func(query string) func() error {
		return func() error {
			_, err := ultracart.ParseCallback(httptest.NewRequest(http.MethodGet, "/callback?"+query, nil), secState)
			return err
		}
	}
	both := url.QueryEscape(secCode + " " + secState)
	add("ParseCallback/wrong state", false, callback("code="+secCode+"&state=other-"+secState))
	add("ParseCallback/two states", false, callback("code="+secCode+"&state="+secState+"&state="+secState))
	add("ParseCallback/access_denied", false, callback("error=access_denied&error_description="+both+"&error_uri="+both+"&code="+secCode+"&state="+secState))
	add("ParseCallback/error echoing", false, callback("error="+both+"&code="+secCode+"&state="+secState))
	add("ParseCallback/no code", false, callback("state="+secState))

	// Token files that are not what they should be.
	badFiles := map[string]string{
		"truncated":      `{"access_token":"` + secAccess + `","refresh_token":"` + secRefresh,
		"syntax":         `{"access_token":"` + secAccess + `" "refresh_token":"` + secRefresh + `"}`,
		"expiry":         `{"access_token":"` + secAccess + `","expiry":"` + secRefresh + `"}`,
		"type":           `{"access_token":["` + secAccess + `"],"refresh_token":"` + secRefresh + `"}`,
		"expires_in":     `{"access_token":"` + secAccess + `","expires_in":"` + secRefresh + `"}`,
		"no tokens":      `{"token_type":"` + secAccess + `"}`,
		"empty":          ``,
		"over 1 MiB":     `{"access_token":"` + secAccess + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`,
		"trailing":       `{"access_token":"` + secAccess + `"} ` + secRefresh,
		"invalid utf8":   "{\"access_token\":\"" + secAccess + "\xff\"}\xff",
		"number too big": `{"access_token":"` + secAccess + `","expires_in":1e400}`,
		"array":          `["` + secAccess + `","` + secRefresh + `"]`,
	}
	for name, content := range badFiles {
		path := filepath.Join(dir, "bad", strings.ReplaceAll(name, " ", "-")+".json")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		add("FileStore.Load/"+name, false, func() error {
			_, err := ultracart.NewFileStore(path).Load(ctx)
			if err == nil {
				return nil
			}
			if !strings.Contains(err.Error(), path) {
				return fmt.Errorf("the error does not name the file: %w", err)
			}
			return err
		})
		add("PersistentTokenSource/FileStore "+name, false, func() error {
			_, err := ultracart.PersistentTokenSource(ctx, &gone.Config, ultracart.NewFileStore(path)).Token()
			return err
		})
	}
	notDir := filepath.Join(dir, "not-a-dir")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o600))
	add("FileStore.Save/parent is a file", false, func() error {
		return ultracart.NewFileStore(filepath.Join(notDir, "token.json")).Save(ctx, valid)
	})
	add("FileStore.Load/a directory", false, func() error {
		_, err := ultracart.NewFileStore(dir).Load(ctx)
		return err
	})

	// Run everything at once: the device polls wait a second each.
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.err = c.run() })
	}
	wg.Wait()

	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if c.ok {
				assert.NoError(t, c.err)
				return
			}
			require.Error(t, c.err)
			assert.True(t, strings.HasPrefix(c.err.Error(), "ultracart: ") || strings.HasPrefix(c.err.Error(), "oauth2: ") ||
				strings.HasPrefix(c.err.Error(), "Get ") || strings.HasPrefix(c.err.Error(), "Post "),
				c.err.Error())
			assertNoSecrets(t, c.err, secAll...)
		})
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

// failingStore is a TokenStore whose Save always fails.
type failingStore struct{ *ultracart.MemoryStore }

func (failingStore) Save(context.Context, *oauth2.Token) error { return errors.New("disk full") }

// TestSecretRedactsWhatItSent checks that the redaction really happened in
// the sweep's main cases: the texts carry "[redacted]" where the echo was.
func TestSecretRedactsWhatItSent(t *testing.T) {
	srv := newEchoServer(t)
	ctx := context.Background()
	conf := testConfigAt(srv.URL + "/oauth")
	_, err := conf.Exchange(ctx, secCode)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Code, "[redacted]")
	assert.Contains(t, e.Description, "[redacted]")
	assert.Contains(t, e.RESTError, "[redacted]")

	resp, err := ultracart.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: secAccess})).Get(srv.URL + "/envelope/rest/v2/item/items")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.ErrorAs(t, ultracart.CheckResponse(resp), &e)
	assert.Contains(t, e.DeveloperMessage, "[redacted]")
	assert.Contains(t, e.RESTError, "[redacted]")
}

// TestSecretBasicAuthEcho: with AuthStyleInHeader (or the auto-detection
// of a zero AuthStyle, which tries it first), the client secret travels in
// the Basic credentials, URL-encoded then base64-encoded. A server that
// echoes the decoded secret must not make it reach an error.
func TestSecretBasicAuthEcho(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		decoded, _ := url.QueryUnescape(secret) // RFC 6749, section 2.3.1
		b, _ := json.Marshal(map[string]string{
			"error":             "invalid_client",
			"error_description": "client " + id + " sent " + secret + " that is " + decoded,
		})
		reply(http.StatusUnauthorized, string(b), "UC-REST-ERROR", "bad secret "+decoded)(w, r)
	})
	const plainSecret = "basic-SECRET-0d0e" // URL encoding leaves it as it is
	for _, secret := range []string{plainSecret, secClientSecret} {
		conf := oauth2.Config{ClientID: "sec-client", ClientSecret: secret, Endpoint: oauth2.Endpoint{
			TokenURL:  srv.URL + "/rest/v2/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		}}
		ctx := context.Background()
		_, err1 := (&ultracart.Config{Config: conf}).Exchange(ctx, secCode)
		_, err2 := conf.Exchange(ultracart.NewContext(ctx), secCode)
		for _, err := range []error{err1, err2} {
			require.Error(t, err)
			assert.Empty(t, findSecrets(err, secret, secCode))
		}
	}
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

// TestSecretEncodedForms (issue 17, point 4): a secret echoed in any form
// the package can predict (raw, query-escaped, path-escaped as %20,
// JSON-escaped as \u003c or plain, HTML-escaped as &lt; and &#39;) is
// redacted, in a body that is not JSON, in a JSON error and in the
// UC-REST-ERROR header.
func TestSecretEncodedForms(t *testing.T) {
	const secret = `sec <client> & 'quote' "SECRET" é/+=?#%`
	forms := secretForms(secret)
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(forms))), len(forms), "every form differs: %q", forms)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		var i int
		fmt.Sscanf(r.URL.Path, "/%d/", &i)
		echo := secretForms(r.PostForm.Get("client_secret"))[i]
		w.Header().Set("UC-REST-ERROR", "bad secret "+echo)
		if strings.Contains(r.URL.Path, "/json/") {
			reply(http.StatusBadRequest, `{"error":"invalid_client","error_description":`+strconv.Quote("bad secret "+echo)+`}`)(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad secret "+echo)
	}))
	t.Cleanup(srv.Close)
	for i := range forms {
		for _, body := range []string{"text", "json"} {
			t.Run(fmt.Sprintf("%q/%s", forms[i], body), func(t *testing.T) {
				conf := testConfigAt(fmt.Sprintf("%s/%d/%s", srv.URL, i, body))
				conf.ClientSecret = secret
				_, err := conf.Exchange(context.Background(), secCode)
				var e *ultracart.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, http.StatusBadRequest, e.StatusCode)
				assert.Equal(t, "bad secret [redacted]", e.RESTError)
				assert.Contains(t, e.Error(), "bad secret [redacted]")
				assertNoSecrets(t, err, secret)
			})
		}
	}
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
