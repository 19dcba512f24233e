package ultracart_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// redirectOutcome is what a redirect of a token request must lead to.
type redirectOutcome int

const (
	followed redirectOutcome = iota // within the origin: followed, the form sent again, the answer translated
	refused                         // to another origin: refused, nothing sent there
	broken                          // followed within the origin, where the connection breaks
)

// TestRedirectPolicy is the table of the redirect policy (redirect.go):
// where a token request, a revoke request and a REST call are redirected,
// and what each must do. A token request follows a redirect only within its
// origin (scheme, host and port); a refusal or a broken next hop gives an
// *Error that names the URL without the request's secrets, even when the
// server put them in the Location. A revoke request follows no redirect. A
// REST call through NewClient or Config.Client follows any redirect, with
// the version header, and with the bearer token only within the origin.
// Every request is served in memory, in a bubble where the device poll
// waits its interval at no cost; the handler redirects the first request of
// each call to to(origin, secret), secret being what the request carried.
func TestRedirectPolicy(t *testing.T) {
	evil := func(_, s string) string { return "http://" + s + ".evil.example/" }
	for _, tt := range []struct {
		name   string
		origin string
		status int
		to     func(origin, secret string) string
		token  redirectOutcome
	}{
		{"same origin", "http://uc.test", 308, func(o, _ string) string { return o + "/landed" }, followed},
		{"same origin, default port written out", "https://uc.test", 307, func(string, string) string { return "https://uc.test:443/landed" }, followed},
		{"same origin, relative", "http://uc.test", 302, func(string, string) string { return "/landed" }, followed},
		{"another host", "http://uc.test", 307, func(string, string) string { return "http://elsewhere.test/landed" }, refused},
		{"another port", "http://uc.test:8080", 307, func(string, string) string { return "http://uc.test:8081/landed" }, refused},
		{"https to http, same host and port", "https://uc.test:8443", 307, func(string, string) string { return "http://uc.test:8443/landed" }, refused},
		{"http to https", "http://uc.test", 302, func(string, string) string { return "https://uc.test/landed" }, refused},
		{"the secret as the host", "http://uc.test", 307, evil, refused},
		{"the secret in user info", "http://uc.test", 307, func(_, s string) string { return "http://" + s + ":" + s + "@evil.example/" }, refused},
		{"the secret as the port", "http://uc.test", 307, func(_, s string) string { return "http://evil.example:" + s + "/" }, refused},
		{"another origin after a same-origin hop", "http://uc.test", 307, func(o, s string) string {
			return o + "/hop?to=" + url.QueryEscape(evil(o, s))
		}, refused},
		{"broken next hop, the secret in the query", "http://uc.test", 307, func(o, s string) string { return o + "/x?rt=" + url.QueryEscape(s) }, broken},
		{"broken next hop, the secret in the path", "http://uc.test", 302, func(o, s string) string { return o + "/x/" + url.PathEscape(s) }, broken},
		{"broken next hop, relative", "http://uc.test", 307, func(_, s string) string { return "/x?rt=" + s }, broken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testRedirect(t, tt.origin, tt.status, tt.to, tt.token) })
		})
	}
}

func testRedirect(t *testing.T, origin string, status int, to func(origin, secret string) string, outcome redirectOutcome) {
	srv := newMemServer(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/x"):
			panic(http.ErrAbortHandler) // the connection breaks
		case p == "/hop":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
		case strings.HasPrefix(p, "/rest/v2/"):
			r.ParseForm()
			secret := r.PostForm.Get("refresh_token") + r.PostForm.Get("code") + r.PostForm.Get("device_code") + r.PostForm.Get("token")
			w.Header().Set("Location", to(origin, secret))
			w.WriteHeader(status)
		default:
			reply(200, `{"access_token":"good","token_type":"bearer","expires_in":" 3600"}`)(w, r)
		}
	})
	ctx := srv.ctx()
	conf := testConfigAt(origin)
	type result struct {
		tok  *oauth2.Token
		errs []error // the call's error, and any other error it reported
	}
	hostPort := func(u *url.URL) string {
		return strings.TrimSuffix(strings.TrimSuffix(u.Scheme+"://"+u.Host, ":443"), ":80")
	}
	outside := func() (n int) { // requests that left the origin
		for _, r := range srv.requests() {
			if hostPort(r.URL) != origin {
				n++
			}
		}
		return n
	}

	for name, call := range map[string]func() result{
		"Config.Exchange": func() result { tok, err := conf.Exchange(ctx, secCode); return result{tok, []error{err}} },
		"NewContext/Exchange": func() result {
			tok, err := conf.Config.Exchange(ultracart.NewContext(ctx), secCode)
			return result{tok, []error{err}}
		},
		"Config.TokenSource": func() result {
			tok, err := conf.TokenSource(ctx, secExpired()).Token()
			return result{tok, []error{err}}
		},
		"Config.DeviceAccessToken": func() result {
			tok, err := conf.DeviceAccessToken(ctx, &oauth2.DeviceAuthResponse{DeviceCode: secDevice, Interval: 1})
			return result{tok, []error{err}}
		},
		"PersistentTokenSource": func() result {
			var events []error // RefreshEvent.Err is checked like the error
			src := ultracart.PersistentTokenSourceWithOptions(ctx, &conf.Config, ultracart.NewMemoryStore(secExpired()),
				&ultracart.PersistentOptions{OnRefresh: func(ev ultracart.RefreshEvent) { events = append(events, ev.Err) }})
			tok, err := src.Token()
			return result{tok, append(events, err)}
		},
	} {
		before := len(srv.requests())
		res := call()
		reqs := srv.requests()[before:]
		for _, err := range res.errs {
			switch outcome {
			case followed:
				require.NoError(t, err, name)
			case refused:
				var e *ultracart.Error
				require.ErrorAs(t, err, &e, name)
				assert.Equal(t, status, e.StatusCode, name)
				assert.Contains(t, err.Error(), "another origin", name)
			case broken:
				var e *ultracart.Error
				require.ErrorAs(t, err, &e, name)
				assert.Zero(t, e.StatusCode, "%s: no answer came: %v", name, err)
				assert.True(t, e.Temporary(), "%s: the connection broke: %v", name, err)
				assert.Contains(t, err.Error(), "[redacted]", "%s: the URL is still named, without its secret", name)
			}
			if err == nil {
				continue
			}
			if name == "NewContext/Exchange" {
				// x/oauth2 returns the *Error inside http.Client's
				// *url.Error, which quotes the redirect's URL as it is
				// (see NewContext); the *Error itself has no secret.
				var e *ultracart.Error
				require.ErrorAs(t, err, &e)
				err = e
			}
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			assertNoSecrets(t, err, secAll...)
		}
		if outcome == followed {
			require.NotNil(t, res.tok, name)
			assert.Equal(t, "good", res.tok.AccessToken, name)
			assert.False(t, res.tok.Expiry.IsZero(), "%s: the answer is translated", name)
			last := reqs[len(reqs)-1]
			assert.Equal(t, "/landed", last.URL.Path, name)
			assert.Equal(t, ultracart.APIVersion, last.Header.Get(ultracart.APIVersionHeader), name)
			if status != http.StatusFound { // a 302 turns a POST into a GET
				assert.Equal(t, reqs[0].Form, last.Form, "%s: the form is sent again", name)
			}
		} else {
			assert.Nil(t, res.tok, name)
		}
	}
	assert.Zero(t, outside(), "no token request left the origin")

	// A revoke request follows no redirect, not even within the origin.
	before := len(srv.requests())
	err := conf.Revoke(ctx, secRefresh)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, status, e.StatusCode)
	assert.Contains(t, err.Error(), "redirect, which is not followed")
	assertNoSecrets(t, err, secAll...)
	assert.Len(t, srv.requests(), before+1)

	// A REST call follows the redirect, with the token only within the
	// origin; an Authorization header the caller set does not leave it either.
	if outcome == broken {
		return
	}
	tok := &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", Expiry: time.Now().Add(time.Hour)}
	newClient := ultracart.NewClient(ctx, oauth2.StaticTokenSource(tok))
	for _, c := range []struct {
		name   string
		client *http.Client
		header bool // the caller sets the Authorization header itself
	}{{"NewClient", newClient, false}, {"Config.Client", conf.Client(ctx, tok), false}, {"NewClient/caller's header", newClient, true}} {
		name := c.name
		req, err := http.NewRequest(http.MethodGet, origin+"/rest/v2/item/items", nil)
		require.NoError(t, err)
		if c.header {
			req.Header.Set("Authorization", "Bearer "+secAccess)
		}
		before := len(srv.requests())
		resp, err := c.client.Do(req)
		require.NoError(t, err, name)
		resp.Body.Close()
		reqs := srv.requests()[before:]
		require.GreaterOrEqual(t, len(reqs), 2, name)
		assert.Equal(t, "Bearer "+secAccess, reqs[0].Header.Get("Authorization"), name)
		last := reqs[len(reqs)-1]
		want := ""
		if outcome == followed {
			want = "Bearer " + secAccess
		}
		assert.Equal(t, want, last.Header.Get("Authorization"), "%s: the token follows only within the origin", name)
		assert.Equal(t, ultracart.APIVersion, last.Header.Get(ultracart.APIVersionHeader), name)
	}
}
