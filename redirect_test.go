package ultracart_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// mixedListener serves TLS and plain HTTP on one port: a connection whose
// first byte starts a TLS handshake (22) is served over TLS.
type mixedListener struct {
	net.Listener
	config *tls.Config
}

func (l *mixedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && first[0] == 22 {
		return tls.Server(pc, l.config), nil
	}
	return pc, nil
}

// peekedConn is a connection whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// seenScheme is one request as the mixed server saw it.
type seenScheme struct {
	scheme, path, auth string
}

// TestSecretBearerHTTPSToHTTP checks that the Bearer token of NewClient and
// Config.Client does not follow a redirect from https to http: to another
// server, and to the same host and port, where only the scheme differs. A
// same-origin https redirect keeps it. Token and revoke requests are not
// redirected from https to http either.
func TestSecretBearerHTTPSToHTTP(t *testing.T) {
	// The TLS certificate of httptest, which is valid for 127.0.0.1, and a
	// client transport that trusts it.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	config := ts.TLS.Clone()
	config.NextProtos = []string{"http/1.1"}
	base := ts.Client().Transport.(*http.Transport).Clone()
	ts.Close()

	plainTarget := newRecorder(t, reply(200, `{}`))

	var mu sync.Mutex
	var seen []seenScheme
	var hostPort string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		mu.Lock()
		seen = append(seen, seenScheme{scheme, r.URL.Path, r.Header.Get("Authorization")})
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/same-port"), strings.HasPrefix(r.URL.Path, "/token-same-port/"):
			// The same host and port, another scheme.
			w.Header().Set("Location", "http://"+hostPort+"/landed")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case strings.HasSuffix(r.URL.Path, "/other-server"):
			http.Redirect(w, r, plainTarget.URL+"/landed", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/same-origin"):
			http.Redirect(w, r, "https://"+hostPort+"/landed", http.StatusFound)
		default:
			reply(200, `{"successful":true}`)(w, r)
		}
	})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	hostPort = ln.Addr().String()
	server := &http.Server{Handler: handler}
	go server.Serve(&mixedListener{Listener: ln, config: config})
	t.Cleanup(func() { server.Close() })
	origin := "https://" + hostPort

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	t.Cleanup(base.CloseIdleConnections)
	tok := &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", Expiry: time.Now().Add(time.Hour)}
	clients := []struct {
		name   string
		client *http.Client
	}{
		{"NewClient", ultracart.NewClient(ctx, oauth2.StaticTokenSource(tok))},
		{"Config.Client", testConfigAt(origin).Client(ctx, tok)},
	}
	landed := func() seenScheme {
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, seen)
		return seen[len(seen)-1]
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.client.Get(origin + "/same-origin")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, seenScheme{"https", "/landed", "Bearer " + secAccess}, landed(), "a same-origin redirect keeps the token")

			resp, err = c.client.Get(origin + "/same-port")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, seenScheme{"http", "/landed", ""}, landed(), "https to http on the same host and port")

			before := len(plainTarget.requests())
			resp, err = c.client.Get(origin + "/other-server")
			require.NoError(t, err)
			resp.Body.Close()
			reqs := plainTarget.requests()
			require.Len(t, reqs, before+1)
			assert.Empty(t, reqs[before].Header.Get("Authorization"), "https to http on another server")
			assert.Equal(t, ultracart.APIVersion, reqs[before].Header.Get("X-UltraCart-Api-Version"))
		})
	}

	// Token and revoke requests are not redirected to http at all.
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	conf := testConfigAt(origin + "/token-same-port")
	_, err = conf.Exchange(ctx, secCode)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusTemporaryRedirect, e.StatusCode)
	require.ErrorAs(t, conf.Revoke(ctx, secRefresh), &e)
	assert.Equal(t, http.StatusTemporaryRedirect, e.StatusCode)
	mu.Lock()
	for _, s := range seen[n:] {
		assert.Equal(t, "https", s.scheme, "a token request went out over http: %+v", s)
	}
	mu.Unlock()
}

// redirectingTokenServer answers a token request with a redirect to
// where(secret), secret being the refresh token or code the request
// carried, and drops the connection of any request to /x, so that a
// redirect there fails at the network level.
func redirectingTokenServer(t *testing.T, status int, where func(srvURL, secret string) string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/x") {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		r.ParseForm()
		secret := r.PostForm.Get("refresh_token") + r.PostForm.Get("code") + r.PostForm.Get("device_code")
		w.Header().Set("Location", where(srv.URL, secret))
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// ownTransport returns a context whose HTTP client has a transport of its
// own, closed when t ends, so that parallel tests closing their servers
// (which closes the idle connections of http.DefaultTransport) cannot break
// its connections.
func ownTransport(t *testing.T) context.Context {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})
}

// redirectedTokenCalls are the token calls of the package, each returning
// its error; the refresh's is also seen by OnRefresh, whose RefreshEvent.Err
// is returned too.
func redirectedTokenCalls(t *testing.T, srv *httptest.Server) map[string]func() []error {
	ctx := ownTransport(t)
	conf := testConfigAt(srv.URL)
	expired := func() *oauth2.Token {
		return &oauth2.Token{AccessToken: secAccess, TokenType: "bearer", RefreshToken: secRefresh, Expiry: time.Now().Add(-time.Hour)}
	}
	return map[string]func() []error{
		"Config.Exchange": func() []error { _, err := conf.Exchange(ctx, secCode); return []error{err} },
		"Config.TokenSource": func() []error {
			_, err := conf.TokenSource(ctx, expired()).Token()
			return []error{err}
		},
		"Config.DeviceAccessToken": func() []error {
			_, err := conf.DeviceAccessToken(ctx, &oauth2.DeviceAuthResponse{DeviceCode: secDevice, Interval: 1})
			return []error{err}
		},
		"PersistentTokenSource": func() []error {
			var events []error
			src := ultracart.PersistentTokenSourceWithOptions(ctx, &conf.Config, ultracart.NewMemoryStore(expired()),
				&ultracart.PersistentOptions{OnRefresh: func(ev ultracart.RefreshEvent) { events = append(events, ev.Err) }})
			_, err := src.Token()
			require.Len(t, events, 1)
			require.Error(t, events[0])
			return append(events, err)
		},
	}
}

// TestSecretRedirectedTransportError (issue 17, point 1): a token request
// redirected within its origin to a URL that carries the refresh token (or
// code, or device code), whose next hop fails at the network level, gives an
// error that does not quote that URL's secret: not in the error, not in
// RefreshEvent.Err, not in any error of their chains.
func TestSecretRedirectedTransportError(t *testing.T) {
	t.Parallel() // the device poll waits its interval
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusFound} {
		for _, where := range []struct {
			name string
			url  func(srvURL, secret string) string
		}{
			{"query", func(u, s string) string { return u + "/x?rt=" + url.QueryEscape(s) }},
			{"path", func(u, s string) string { return u + "/x/" + url.PathEscape(s) }},
			{"relative", func(_, s string) string { return "/x?rt=" + s }},
		} {
			srv := redirectingTokenServer(t, status, where.url)
			for name, call := range redirectedTokenCalls(t, srv) {
				t.Run(fmt.Sprintf("%d/%s/%s", status, where.name, name), func(t *testing.T) {
					t.Parallel()
					for _, err := range call() {
						require.Error(t, err)
						assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
						assertNoSecrets(t, err, secAll...)
						var e *ultracart.Error
						require.ErrorAs(t, err, &e)
						assert.Zero(t, e.StatusCode, "no answer came: %v", err)
						assert.True(t, e.Temporary(), "the connection broke: %v", err)
						assert.Contains(t, err.Error(), "[redacted]", "the URL is still named, without its secret")
					}
				})
			}
		}
	}
}

// TestSecretForeignRedirectOrigin (issue 17, point 2): the refusal of a
// token request redirected to another origin names that origin without the
// request's secrets, even when the secret is the origin's host name, and
// also after a first redirect within the origin.
func TestSecretForeignRedirectOrigin(t *testing.T) {
	t.Parallel() // the device poll waits its interval
	for _, where := range []struct {
		name string
		url  func(srvURL, secret string) string
	}{
		{"host", func(_, s string) string { return "http://" + s + ".evil.example/" }},
		{"user info", func(_, s string) string { return "http://" + s + ":" + s + "@evil.example/" }},
		{"port", func(_, s string) string { return "http://evil.example:" + s + "/" }},
		{"after a same-origin hop", func(u, s string) string {
			return u + "/hop?to=" + url.QueryEscape("http://"+s+".evil.example/")
		}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hop" {
				http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
				return
			}
			r.ParseForm()
			secret := r.PostForm.Get("refresh_token") + r.PostForm.Get("code") + r.PostForm.Get("device_code")
			w.Header().Set("Location", where.url("http://"+r.Host, secret))
			w.WriteHeader(http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		for name, call := range redirectedTokenCalls(t, srv) {
			t.Run(where.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				for _, err := range call() {
					require.Error(t, err)
					assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
					assert.Contains(t, err.Error(), "another origin")
					assertNoSecrets(t, err, secAll...)
				}
			})
		}
	}
}
