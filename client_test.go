package ultracart_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

func TestNewClientHeaders(t *testing.T) {
	api := newRecorder(t, reply(200, `{"items":[]}`))
	client := ultracart.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testAccessToken, TokenType: "bearer"}))

	resp, err := client.Get(api.URL + "/rest/v2/item/items")
	require.NoError(t, err)
	resp.Body.Close()

	req, _ := http.NewRequest(http.MethodGet, api.URL+"/rest/v2/item/items", nil)
	req.Header.Set("X-UltraCart-Api-Version", "2099-01-01")
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer "+testAccessToken, reqs[0].Header.Get("Authorization"))
	assert.Equal(t, ultracart.APIVersion, reqs[0].Header.Get("X-UltraCart-Api-Version"))
	assert.Equal(t, "2099-01-01", reqs[1].Header.Get("X-UltraCart-Api-Version"), "the caller's version is kept")
	assert.Empty(t, req.Header.Get("Authorization"), "the caller's request is not modified")
}

func TestConfigClientRefreshes(t *testing.T) {
	var srvURL string
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest/v2/oauth/token":
			reply(200, `{"access_token":"at-new","refresh_token":"rt-new","token_type":"bearer","expires_in":"3600"}`)(w, r)
		default:
			reply(200, `{"ok":true}`)(w, r)
		}
	})
	srvURL = srv.URL
	conf := testConfig(srvURL)
	old := &oauth2.Token{AccessToken: testAccessToken, RefreshToken: testRefreshToken, Expiry: time.Now().Add(-time.Minute)}
	client := conf.Client(context.Background(), old)

	for range 3 {
		resp, err := client.Get(srvURL + "/rest/v2/item/items")
		require.NoError(t, err)
		resp.Body.Close()
	}
	reqs := srv.requests()
	require.Len(t, reqs, 4, "one refresh, then three API calls")
	assert.Equal(t, "/rest/v2/oauth/token", reqs[0].Path)
	assert.Equal(t, "refresh_token", reqs[0].Form.Get("grant_type"))
	assert.Equal(t, testRefreshToken, reqs[0].Form.Get("refresh_token"))
	assert.Equal(t, ultracart.APIVersion, reqs[0].Header.Get("X-UltraCart-Api-Version"))
	for _, r := range reqs[1:] {
		assert.Equal(t, "Bearer at-new", r.Header.Get("Authorization"))
	}
}

func TestNewClientRefreshError(t *testing.T) {
	srv := newRecorder(t, reply(400, `{"error":"invalid_grant","error_description":"refresh token revoked"}`))
	conf := testConfig(srv.URL)
	client := conf.Client(context.Background(), &oauth2.Token{AccessToken: "a", RefreshToken: testRefreshToken, Expiry: time.Now().Add(-time.Minute)})
	_, err := client.Get(srv.URL + "/rest/v2/item/items")
	require.Error(t, err)
	assert.ErrorIs(t, err, ultracart.ErrInvalidGrant)
	assert.NotContains(t, err.Error(), testRefreshToken)
	assert.Len(t, srv.requests(), 1, "no API call without a token")
}

// countingTransport counts the requests that pass through it.
type countingTransport struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func TestNewClientKeepsContextTransport(t *testing.T) {
	api := newRecorder(t, reply(200, `{}`))
	ct := &countingTransport{base: http.DefaultTransport}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: ct, Timeout: 7 * time.Second})
	client := ultracart.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a"}))
	assert.Equal(t, 7*time.Second, client.Timeout)
	resp, err := client.Get(api.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.EqualValues(t, 1, ct.n.Load())
}

// TestNewClientRedirects checks that the token follows a redirect only to
// the same origin: another host, another port of the same host, or another
// scheme gets no Authorization header, from NewClient and Config.Client.
func TestNewClientRedirects(t *testing.T) {
	target := newRecorder(t, reply(200, `{}`))
	tlsTarget := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
	}))
	t.Cleanup(tlsTarget.Close)

	// origin redirects /same to itself and /elsewhere to the target.
	var originURL string
	origin := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, originURL+"/landed", http.StatusFound)
		case "/port":
			http.Redirect(w, r, target.URL+"/landed", http.StatusTemporaryRedirect)
		case "/host":
			// The same port number on another host name is another origin.
			http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/landed", http.StatusFound)
		case "/scheme":
			http.Redirect(w, r, tlsTarget.URL+"/landed", http.StatusFound)
		default:
			reply(200, `{}`)(w, r)
		}
	})
	originURL = origin.URL

	// A TLS-capable base transport that trusts tlsTarget.
	base := tlsTarget.Client().Transport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: tlsTarget.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})

	tok := &oauth2.Token{AccessToken: testAccessToken, Expiry: time.Now().Add(time.Hour)}
	clients := map[string]*http.Client{
		"NewClient":     ultracart.NewClient(ctx, oauth2.StaticTokenSource(tok)),
		"Config.Client": testConfig(origin.URL).Client(ctx, tok),
	}
	for name, client := range clients {
		t.Run(name, func(t *testing.T) {
			resp, err := client.Get(origin.URL + "/same")
			require.NoError(t, err)
			resp.Body.Close()
			last := origin.requests()[len(origin.requests())-1]
			assert.Equal(t, "/landed", last.Path)
			assert.Equal(t, "Bearer "+testAccessToken, last.Header.Get("Authorization"), "same origin keeps the token")

			for _, path := range []string{"/port", "/host"} {
				before := len(target.requests())
				resp, err := client.Get(origin.URL + path)
				require.NoError(t, err)
				resp.Body.Close()
				reqs := target.requests()
				require.Len(t, reqs, before+1, path)
				assert.Empty(t, reqs[before].Header.Get("Authorization"), path)
				assert.Equal(t, ultracart.APIVersion, reqs[before].Header.Get("X-UltraCart-Api-Version"), path)
			}

			resp, err = client.Get(origin.URL + "/scheme")
			require.NoError(t, err)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Empty(t, resp.Header.Get("X-Auth"), "http to https is another origin")
		})
	}
}

// TestNewClientRedirectStripsCallerAuthorization: a header the caller set
// is not carried to another origin either.
func TestNewClientRedirectStripsCallerAuthorization(t *testing.T) {
	target := newRecorder(t, reply(200, `{}`))
	origin := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/landed", http.StatusFound)
	})
	client := ultracart.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a"}))
	req, _ := http.NewRequest(http.MethodGet, origin.URL, nil)
	req.Header.Set("Authorization", "Bearer "+testAccessToken)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, target.only(t).Header.Get("Authorization"))
}

func TestNewClientNilSource(t *testing.T) {
	client := ultracart.NewClient(context.Background(), nil)
	_, err := client.Get("http://127.0.0.1:1/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ultracart: ")
}

// TestTokenRequestRedirects: a token request that is redirected to another
// origin is refused, so the code and secret never reach it; a redirect
// within the origin is followed.
func TestTokenRequestRedirects(t *testing.T) {
	elsewhere := newRecorder(t, reply(200, `{"access_token":"stolen"}`))
	var srvURL string
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away/rest/v2/oauth/token":
			w.Header().Set("Location", elsewhere.URL+"/rest/v2/oauth/token?echo="+testCode)
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/home/rest/v2/oauth/token":
			w.Header().Set("Location", srvURL+"/rest/v2/oauth/token")
			w.WriteHeader(http.StatusPermanentRedirect)
		default:
			reply(200, `{"access_token":"good","expires_in":"60"}`)(w, r)
		}
	})
	srvURL = srv.URL

	conf := testConfig(srv.URL + "/away")
	conf.ClientSecret = testSecret
	ctx := context.Background()
	_, err := conf.Exchange(ctx, testCode)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusTemporaryRedirect, e.StatusCode)
	assert.Contains(t, e.Error(), "another origin")
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: testRefreshToken}).Token()
	require.ErrorAs(t, err, &e)
	// A plain oauth2.Config under NewContext finds the same *Error in the
	// chain, and no part of the Location in the text.
	_, err = conf.Config.Exchange(ultracart.NewContext(ctx), testCode)
	e = nil
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusTemporaryRedirect, e.StatusCode)
	assert.Contains(t, e.Error(), "another origin")
	assert.NotContains(t, err.Error(), elsewhere.URL+"/")
	assert.NotContains(t, err.Error(), testCode)
	assert.Empty(t, elsewhere.requests(), "nothing reached the other origin")

	tok, err := testConfig(srv.URL+"/home").Exchange(ctx, testCode)
	require.NoError(t, err)
	assert.Equal(t, "good", tok.AccessToken)
	reqs := srv.requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, testCode, last.Form.Get("code"), "the body is sent again after a same-origin 308")
}

func TestNewContext(t *testing.T) {
	ctx := ultracart.NewContext(context.Background())
	assert.Equal(t, ctx, ultracart.NewContext(ctx), "idempotent")

	// Non-token responses pass through byte for byte.
	body := `{"expires_in":"", "error":{"developer_message":"x"}}` + "\n"
	srv := newRecorder(t, reply(400, body, "Content-Type", "application/json; charset=utf-8"))
	client := ctx.Value(oauth2.HTTPClient).(*http.Client)
	for _, req := range []*http.Request{
		mustRequest(t, http.MethodGet, srv.URL+"/rest/v2/oauth/token"),
		mustRequest(t, http.MethodPost, srv.URL+"/rest/v2/item/items"),
		mustRequest(t, http.MethodPost, srv.URL+"/rest/v2/oauth/tokens"),
	} {
		resp, err := client.Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, body, string(got), req.URL.Path)
		assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	}
	for _, r := range srv.requests() {
		assert.Equal(t, ultracart.APIVersion, r.Header.Get("X-UltraCart-Api-Version"))
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

func TestNetworkErrorIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	_, err := testConfig(srv.URL).Exchange(context.Background(), testCode)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.Zero(t, e.StatusCode)
	assert.NotNil(t, e.Err)
	assert.NotContains(t, err.Error(), testCode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = testConfig(srv.URL).Exchange(ctx, testCode)
	assert.ErrorIs(t, err, context.Canceled)
	require.ErrorAs(t, err, &e)
	assert.False(t, e.Temporary())
}

// rotatingSource hands out "at-1" until told that its token was rejected,
// then "at-2", "at-3", …, or fails with err.
type rotatingSource struct {
	mu          sync.Mutex
	n           int
	invalidated []string
	same        bool  // Invalidate keeps the token
	err         error // Token fails after an Invalidate
	failing     bool
}

func (s *rotatingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return nil, s.err
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("at-%d", s.n+1)}, nil
}

func (s *rotatingSource) Invalidate(t *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, t.AccessToken)
	if t.AccessToken != fmt.Sprintf("at-%d", s.n+1) || s.same {
		return
	}
	if s.err != nil {
		s.failing = true
		return
	}
	s.n++
}

// plainSource hides the Invalidate method of the source it wraps.
type plainSource struct{ oauth2.TokenSource }

// The client's recovery from a 401: one retry with the new token when the
// request can be sent again, never two.
func TestNewClientRetriesRejectedToken(t *testing.T) {
	errGone := &ultracart.Error{StatusCode: 400, Code: "invalid_grant"}
	for _, tc := range []struct {
		name            string
		accept          string                   // the token the server accepts; "" none
		body            func() (io.Reader, bool) // the body, and whether to hide GetBody
		method          string
		src             func() *rotatingSource
		plain           bool
		wantStatus      int
		wantAuths       []string // Authorization of each request the server saw
		wantInvalidated []string
		wantErr         error
	}{
		{name: "GET retried", accept: "at-2", wantStatus: 200,
			wantAuths: []string{"Bearer at-1", "Bearer at-2"}, wantInvalidated: []string{"at-1"}},
		{name: "POST with GetBody retried", method: http.MethodPost, accept: "at-2",
			body:       func() (io.Reader, bool) { return strings.NewReader("a=1"), false },
			wantStatus: 200, wantAuths: []string{"Bearer at-1", "Bearer at-2"}, wantInvalidated: []string{"at-1"}},
		{name: "POST without GetBody not retried", method: http.MethodPost, accept: "at-2",
			body:    func() (io.Reader, bool) { return strings.NewReader("a=1"), true },
			wantErr: ultracart.ErrInvalidToken, wantAuths: []string{"Bearer at-1"}, wantInvalidated: []string{"at-1"}},
		{name: "never twice", wantErr: ultracart.ErrInvalidToken,
			wantAuths: []string{"Bearer at-1", "Bearer at-2"}, wantInvalidated: []string{"at-1"}},
		{name: "same token: no retry", accept: "at-2", src: func() *rotatingSource { return &rotatingSource{same: true} },
			wantErr: ultracart.ErrInvalidToken, wantAuths: []string{"Bearer at-1"}, wantInvalidated: []string{"at-1"}},
		{name: "source without Invalidate", accept: "at-2", plain: true,
			wantStatus: 401, wantAuths: []string{"Bearer at-1"}},
		{name: "refresh fails", accept: "at-2", src: func() *rotatingSource { return &rotatingSource{err: errGone} },
			wantErr: ultracart.ErrInvalidGrant, wantAuths: []string{"Bearer at-1"}, wantInvalidated: []string{"at-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies []string
			var mu sync.Mutex
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.accept != "" && r.Header.Get("Authorization") == "Bearer "+tc.accept {
					reply(200, `{"success":true}`)(w, r)
					return
				}
				reply(401, `{"error":{"developer_message":"The bearer access token is invalid, expired or revoked"},"success":false}`)(w, r)
			})
			src := &rotatingSource{}
			if tc.src != nil {
				src = tc.src()
			}
			var ts oauth2.TokenSource = src
			if tc.plain {
				ts = plainSource{src}
			}
			client := ultracart.NewClient(context.Background(), ts)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body io.Reader
			hide := false
			if tc.body != nil {
				body, hide = tc.body()
			}
			req, err := http.NewRequest(method, api.URL+"/rest/v2/item/items", body)
			require.NoError(t, err)
			if hide {
				req.Body, req.GetBody = io.NopCloser(body), nil
			}
			resp, err := client.Do(req)
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				assert.Equal(t, tc.wantStatus, resp.StatusCode)
				if resp.StatusCode == 401 {
					assert.ErrorIs(t, ultracart.CheckResponse(resp), ultracart.ErrInvalidToken)
				}
			}
			var auths []string
			for _, r := range api.requests() {
				auths = append(auths, r.Header.Get("Authorization"))
				assert.Equal(t, method, r.Method)
				assert.Equal(t, ultracart.APIVersion, r.Header.Get(ultracart.APIVersionHeader))
				if method == http.MethodPost {
					mu.Lock()
					bodies = append(bodies, r.Form.Encode())
					mu.Unlock()
				}
			}
			assert.Equal(t, tc.wantAuths, auths)
			for _, b := range bodies {
				assert.Equal(t, "a=1", b, "the body is sent whole each time")
			}
			assert.Equal(t, tc.wantInvalidated, src.invalidated)
		})
	}
}

// recoveringClients are the clients of this package that recover from a
// 401, each over a token held in store (Config.Client keeps its own).
var recoveringClients = []struct {
	name      string
	new       func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore, tok *oauth2.Token) *http.Client
	ownsStore bool // the client uses store, so a token saved there is seen
}{
	{"NewClient(PersistentTokenSource)", func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		require.NoError(t, store.Save(context.Background(), tok))
		ctx := context.Background()
		return ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, recoveryConfig(srv), store))
	}, true},
	{"Merchants.Client", func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		require.NoError(t, store.Save(context.Background(), tok))
		m := ultracart.NewMerchants(context.Background(), recoveryConfig(srv), func(string) ultracart.TokenStore { return store })
		return m.Client("alpha")
	}, true},
	{"Config.Client", func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		conf := &ultracart.Config{Config: *recoveryConfig(srv)}
		return conf.Client(context.Background(), tok)
	}, false},
}

func recoveryConfig(srv *ultracarttest.Server) *oauth2.Config {
	return &oauth2.Config{ClientID: "recovery-client", Endpoint: srv.Endpoint()}
}

// recoveryGet calls the protected resource and returns the status, or the
// client's error.
func recoveryGet(t *testing.T, client *http.Client, srv *ultracarttest.Server) (int, error) {
	t.Helper()
	resp, err := client.Get(srv.URL + ultracarttest.ItemsPath)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// lastBearer is the access token of the last request to the protected
// resource.
func lastBearer(t *testing.T, srv *ultracarttest.Server) string {
	t.Helper()
	req, ok := srv.LastRequest(ultracarttest.ItemsPath)
	require.True(t, ok)
	assert.Equal(t, http.MethodGet, req.Method)
	assert.Equal(t, ultracart.APIVersion, req.Header.Get(ultracart.APIVersionHeader))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
}

// The recovery from a 401 of each client over a real source: a token the
// REST API rejects is replaced (by the one another process saved, or else
// by a refresh) and the request sent again, once; when no token can be
// got, the request fails with ErrInvalidGrant.
func TestNewClientRecoversRejectedToken(t *testing.T) {
	for _, tc := range []struct {
		name        string
		unknownLife bool // the token came with an empty expires_in
		ownsStore   bool // the case needs a client over the store
		// kill makes the token the client holds unusable, given the
		// store; it returns the access token the retry must carry, if
		// known.
		kill        func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore) string
		wantErr     error
		wantRefresh int
		wantAPI     int
	}{
		{name: "token ended early: refreshed, retried", wantRefresh: 1, wantAPI: 2,
			kill: func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore) string {
				srv.ExpireAccessTokens()
				return ""
			}},
		{name: "unknown expiry: used until rejected", unknownLife: true, wantRefresh: 1, wantAPI: 2,
			kill: func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore) string {
				srv.ExpireAccessTokens()
				return ""
			}},
		{name: "grant revoked: authorize again", wantErr: ultracart.ErrInvalidGrant, wantRefresh: 1, wantAPI: 1,
			kill: func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore) string {
				require.NoError(t, ultracart.Revoke(context.Background(), recoveryConfig(srv), lastBearer(t, srv)))
				return ""
			}},
		{name: "a new login saved meanwhile: adopted", ownsStore: true, wantRefresh: 0, wantAPI: 2,
			kill: func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore) string {
				old, err := store.Load(context.Background())
				require.NoError(t, err)
				require.NoError(t, ultracart.Revoke(context.Background(), recoveryConfig(srv), old.RefreshToken))
				fresh := srv.IssueToken("") // saved by another process
				require.NoError(t, store.Save(context.Background(), fresh))
				return fresh.AccessToken
			}},
	} {
		for _, kind := range recoveringClients {
			if tc.ownsStore && !kind.ownsStore {
				continue
			}
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				srv := ultracarttest.NewServer()
				t.Cleanup(srv.Close)
				tok := srv.IssueToken("")
				if tc.unknownLife {
					srv.SetOptions(ultracarttest.Options{ExpiresInJSON: `""`})
					conf := &ultracart.Config{Config: *recoveryConfig(srv)}
					var err error
					tok, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
					require.NoError(t, err)
					require.True(t, tok.Expiry.IsZero())
				}
				store := ultracart.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
				client := kind.new(t, srv, store, tok)
				for range 2 {
					status, err := recoveryGet(t, client, srv)
					require.NoError(t, err)
					require.Equal(t, http.StatusOK, status)
				}

				want := tc.kill(t, srv, store)
				before := srv.Stats()
				status, err := recoveryGet(t, client, srv)
				after := srv.Stats()
				assert.Equal(t, tc.wantRefresh, after.Refresh-before.Refresh, "refreshes")
				assert.Equal(t, tc.wantAPI, after.API-before.API, "requests to the REST API")
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					assert.NotContains(t, err.Error(), tok.RefreshToken)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, status)
				bearer := lastBearer(t, srv)
				assert.NotEqual(t, tok.AccessToken, bearer, "the retry carried a new token")
				if want != "" {
					assert.Equal(t, want, bearer)
				}
				if kind.ownsStore {
					saved, err := store.Load(context.Background())
					require.NoError(t, err)
					assert.Equal(t, saved.AccessToken, bearer, "the retry carried the saved token")
				}
			})
		}
	}
}
