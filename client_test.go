package ultracart_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
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

// TestNewClient: the client sends the Bearer token and the version header
// (a version the caller set is kept) without changing the caller's
// request, goes through the transport of the context's client and keeps its
// Timeout, and fails without a source.
func TestNewClient(t *testing.T) {
	api := newRecorder(t, reply(200, `{"items":[]}`))
	ct := &countingTransport{base: http.DefaultTransport}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: ct, Timeout: 7 * time.Second})
	client := ultracart.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testAccessToken, TokenType: "bearer"}))
	assert.Equal(t, 7*time.Second, client.Timeout)

	for _, version := range []string{"", "2099-01-01"} {
		req, err := http.NewRequest(http.MethodGet, api.URL+"/rest/v2/item/items", nil)
		require.NoError(t, err)
		if version != "" {
			req.Header.Set("X-UltraCart-Api-Version", version)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Empty(t, req.Header.Get("Authorization"), "the caller's request is not modified")
	}
	reqs := api.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "Bearer "+testAccessToken, r.Header.Get("Authorization"))
	}
	assert.Equal(t, ultracart.APIVersion, reqs[0].Header.Get("X-UltraCart-Api-Version"))
	assert.Equal(t, "2099-01-01", reqs[1].Header.Get("X-UltraCart-Api-Version"), "the caller's version is kept")
	assert.EqualValues(t, 2, ct.n.Load())

	_, err := ultracart.NewClient(context.Background(), nil).Get(api.URL)
	assert.ErrorContains(t, err, "ultracart: the client's token source is nil")
	assert.Len(t, api.requests(), 2)

	// NewContext on a context that already holds its client returns ctx.
	// (A promise of transport.go, whose tests are elsewhere.)
	ctx = ultracart.NewContext(context.Background())
	assert.Equal(t, ctx, ultracart.NewContext(ctx))
}

type countingTransport struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// rotatingSource hands out "at-1" until told that its token was rejected,
// then "at-2", "at-3", ….
type rotatingSource struct {
	mu          sync.Mutex
	n           int
	invalidated []string
	same        bool // Invalidate keeps the token
}

func (s *rotatingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &oauth2.Token{AccessToken: fmt.Sprintf("at-%d", s.n+1)}, nil
}

func (s *rotatingSource) Invalidate(t *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, t.AccessToken)
	if t.AccessToken != fmt.Sprintf("at-%d", s.n+1) || s.same {
		return
	}
	s.n++
}

type plainSource struct{ oauth2.TokenSource }

// The client's recovery from a 401 over a fake source: one retry with the
// new token when the request can be sent again and the source has one.
// (Never two, and the refresh's error: TestNewClientRecoversRejectedToken
// and TestPersistentTokenSourceRejectionStormRefreshesOnce.)
func TestNewClientRetriesRejectedToken(t *testing.T) {
	for _, tc := range []struct {
		name            string
		accept          string // the token the server accepts; "" none
		post, noGetBody bool   // a POST with a body, and without GetBody
		same            bool   // the source keeps its token when told it was rejected
		plain           bool   // the source has no Invalidate method
		wantStatus      int
		wantAuths       []string // Authorization of each request the server saw
		wantInvalidated []string
		wantErr         error
	}{
		{name: "POST with GetBody retried", post: true, accept: "at-2",
			wantStatus: 200, wantAuths: []string{"Bearer at-1", "Bearer at-2"}, wantInvalidated: []string{"at-1"}},
		{name: "POST without GetBody not retried", post: true, noGetBody: true, accept: "at-2",
			wantErr: ultracart.ErrInvalidToken, wantAuths: []string{"Bearer at-1"}, wantInvalidated: []string{"at-1"}},
		{name: "same token: no retry", accept: "at-2", same: true,
			wantErr: ultracart.ErrInvalidToken, wantAuths: []string{"Bearer at-1"}, wantInvalidated: []string{"at-1"}},
		{name: "source without Invalidate", accept: "at-2", plain: true,
			wantStatus: 401, wantAuths: []string{"Bearer at-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.accept != "" && r.Header.Get("Authorization") == "Bearer "+tc.accept {
					reply(200, `{"success":true}`)(w, r)
					return
				}
				reply(401, `{"error":{"developer_message":"The bearer access token is invalid, expired or revoked"},"success":false}`)(w, r)
			})
			src := &rotatingSource{same: tc.same}
			var ts oauth2.TokenSource = src
			if tc.plain {
				ts = plainSource{src}
			}
			method, body := http.MethodGet, io.Reader(nil)
			if tc.post {
				method, body = http.MethodPost, strings.NewReader("a=1")
			}
			req, err := http.NewRequest(method, api.URL+"/rest/v2/item/items", body)
			require.NoError(t, err)
			if tc.noGetBody {
				req.Body, req.GetBody = io.NopCloser(body), nil
			}
			resp, err := ultracart.NewClient(context.Background(), ts).Do(req)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tc.wantStatus, resp.StatusCode)
			}
			var auths []string
			for _, r := range api.requests() {
				auths = append(auths, r.Header.Get("Authorization"))
				assert.Equal(t, method, r.Method)
				assert.Equal(t, ultracart.APIVersion, r.Header.Get(ultracart.APIVersionHeader))
				if tc.post {
					assert.Equal(t, "a=1", r.Form.Encode(), "the body is sent whole each time")
				}
			}
			assert.Equal(t, tc.wantAuths, auths)
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
		return ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, plainConfig(srv), store))
	}, true},
	{"Merchants.Client", func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		require.NoError(t, store.Save(context.Background(), tok))
		m := ultracart.NewMerchants(context.Background(), plainConfig(srv), func(string) ultracart.TokenStore { return store })
		return m.Client("alpha")
	}, true},
	{"Config.Client", func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		conf := &ultracart.Config{Config: *plainConfig(srv)}
		return conf.Client(context.Background(), tok)
	}, false},
	{"4 sources over one store", func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore, tok *oauth2.Token) *http.Client {
		require.NoError(t, store.Save(context.Background(), tok))
		ctx := context.Background()
		var clients roundRobin
		for range 4 {
			clients.clients = append(clients.clients, ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, plainConfig(srv), store)))
		}
		return &http.Client{Transport: &clients}
	}, true},
}

// roundRobin sends each request through the next of its clients, as the
// processes (or sources) that share a store would.
type roundRobin struct {
	clients []*http.Client
	n       atomic.Int32
}

func (r *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	return r.clients[int(r.n.Add(1))%len(r.clients)].Transport.RoundTrip(req)
}

// lastBearer is the access token of the last request to the protected
// resource.
func lastBearer(t *testing.T, srv *ultracarttest.Server) string {
	t.Helper()
	var req ultracarttest.Request
	for _, r := range srv.Requests() {
		if r.Path == ultracarttest.ItemsPath {
			req = r
		}
	}
	require.NotEmpty(t, req.Path, "no request to the protected resource")
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
		callers     int  // goroutines that make the request at once; 0 means 1
		// kill makes the token the client holds unusable (nil: the server
		// expires every access token); it returns the access token the
		// retry must carry, if known.
		kill        func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore) string
		wantErr     error
		wantRefresh int
		wantAPI     int // checked with one caller
	}{
		{name: "token ended early: refreshed, retried", wantRefresh: 1, wantAPI: 2},
		{name: "64 callers rejected with one token: one refresh", callers: 64, wantRefresh: 1},
		{name: "unknown expiry: used until rejected", unknownLife: true, wantRefresh: 1, wantAPI: 2},
		{name: "grant revoked: authorize again", wantErr: ultracart.ErrInvalidGrant, wantRefresh: 1, wantAPI: 1,
			kill: func(t *testing.T, srv *ultracarttest.Server, _ ultracart.TokenStore) string {
				require.NoError(t, ultracart.Revoke(context.Background(), plainConfig(srv), lastBearer(t, srv)))
				return ""
			}},
		{name: "a new login saved meanwhile: adopted", ownsStore: true, wantRefresh: 0, wantAPI: 2,
			kill: func(t *testing.T, srv *ultracarttest.Server, store ultracart.TokenStore) string {
				old, err := store.Load(context.Background())
				require.NoError(t, err)
				require.NoError(t, ultracart.Revoke(context.Background(), plainConfig(srv), old.RefreshToken))
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
				srv := adapterServer(t)
				tok := srv.IssueToken("")
				if tc.unknownLife {
					srv.SetOptions(ultracarttest.Options{ExpiresInJSON: `""`})
					conf := &ultracart.Config{Config: *plainConfig(srv)}
					var err error
					tok, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
					require.NoError(t, err)
					require.True(t, tok.Expiry.IsZero())
				}
				store := ultracart.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
				client := kind.new(t, srv, store, tok)
				for range 4 { // every source of a kind has its token
					status, err := getItems(t, client, srv)
					require.NoError(t, err)
					require.Equal(t, http.StatusOK, status)
				}

				want := ""
				if tc.kill == nil {
					srv.ExpireAccessTokens()
				} else {
					want = tc.kill(t, srv, store)
				}
				before := srv.Stats()
				if tc.callers > 1 {
					start := make(chan struct{})
					var wg sync.WaitGroup
					for range tc.callers {
						wg.Go(func() {
							<-start
							status, err := getItems(t, client, srv)
							assert.NoError(t, err)
							assert.Equal(t, http.StatusOK, status)
						})
					}
					close(start)
					wg.Wait()
					assert.Equal(t, tc.wantRefresh, srv.Stats().Refresh-before.Refresh, "refreshes")
					return
				}
				status, err := getItems(t, client, srv)
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

// okTransport answers every request with an empty 200, in process, so that
// a benchmark measures the client and not the network.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// BenchmarkClientRequest compares a request through the client of
// NewClient over PersistentTokenSource (impl=ultracart) with one through
// x/oauth2's client over the same valid token (impl=xoauth2, conf.Client),
// serially and in parallel, on a transport that answers in process: the
// cost of the clients themselves, token read included (issue 19: within
// 1.5x). Compare with `benchstat -col /impl`.
func BenchmarkClientRequest(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: time.Now().Add(24 * time.Hour)}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: okTransport{}})
	conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
	get := func(b *testing.B, client *http.Client) {
		resp, err := client.Get("http://127.0.0.1:1/rest/v2/item/items")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, impl := range []struct {
		name string
		new  func() *http.Client
	}{
		{"ultracart", func() *http.Client {
			return ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, ultracart.NewMemoryStore(tok)))
		}},
		{"xoauth2", func() *http.Client { return conf.Client(ctx, tok) }},
	} {
		b.Run("impl="+impl.name+"/run=serial", func(b *testing.B) {
			client := impl.new()
			get(b, client) // the first request loads the token
			b.ReportAllocs()
			for b.Loop() {
				get(b, client)
			}
		})
		b.Run("impl="+impl.name+"/run=parallel", func(b *testing.B) {
			client := impl.new()
			get(b, client)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, client)
				}
			})
		})
	}
}
