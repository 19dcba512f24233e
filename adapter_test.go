package ultracart_test

// The drop-in tests: plain golang.org/x/oauth2 code (an oauth2.Config under
// NewContext, oauth2.NewClient, oauth2.ReuseTokenSource, oauth2.Config's
// Client) and this package's clients, against ultracarttest, for each
// quirk of UltraCart's dialect and for what a long-running application
// meets: rejected tokens, unknown expiry, shared sources.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

const adapterClientID = "adapter-client"

func adapterServer(t *testing.T) *ultracarttest.Server {
	t.Helper()
	srv := ultracarttest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// plainConfig is the oauth2.Config a user of x/oauth2 writes, with only
// the Endpoint changed.
func plainConfig(srv *ultracarttest.Server) *oauth2.Config {
	return &oauth2.Config{ClientID: adapterClientID, Endpoint: srv.Endpoint()}
}

// getItems calls the protected resource and returns the status and the
// error CheckResponse makes of the response.
func getItems(t *testing.T, client *http.Client, srv *ultracarttest.Server) (int, error) {
	t.Helper()
	resp, err := client.Get(srv.URL + ultracarttest.ItemsPath)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	checkErr := ultracart.CheckResponse(resp)
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, checkErr
}

// Each spelling of expires_in that UltraCart sends goes through a plain
// oauth2.Config under NewContext; an unknown expiry never fails the
// exchange (internal/fakeuc can leave expires_in out).
func TestAdapterExpiresIn(t *testing.T) {
	for _, tc := range []struct {
		raw        string
		wantExpiry time.Duration // 0: unknown
	}{
		{`"3600"`, time.Hour},
		{`" 3600"`, time.Hour},
		{`"3600.9"`, time.Hour},
		{`3600`, time.Hour},
		{`""`, 0},
		{`null`, 0},
		{"", 0}, // expires_in left out
		{`"soon"`, 0},
		{`"-5"`, 0},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			srv := fakeuc.NewServer()
			t.Cleanup(srv.Close)
			srv.SetOptions(fakeuc.Options{ExpiresInJSON: tc.raw, OmitExpiresIn: tc.raw == ""})
			before := time.Now()
			conf := &oauth2.Config{ClientID: adapterClientID, Endpoint: srv.Endpoint()}
			stale := &oauth2.Token{RefreshToken: srv.IssueToken("").RefreshToken}
			tok, err := conf.TokenSource(ultracart.NewContext(context.Background()), stale).Token()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(tok.AccessToken, fakeuc.AccessTokenPrefix))
			if tc.wantExpiry == 0 {
				assert.True(t, tok.Expiry.IsZero(), "expiry unknown: %v", tok.Expiry)
			} else {
				assert.WithinDuration(t, before.Add(tc.wantExpiry), tok.Expiry, 5*time.Second)
			}
			req, ok := srv.LastRequest(fakeuc.TokenPath)
			require.True(t, ok)
			assert.Equal(t, ultracart.APIVersion, req.Header.Get(ultracart.APIVersionHeader))
			assert.Equal(t, "refresh_token", req.Form.Get("grant_type"))
			assert.Equal(t, adapterClientID, req.Form.Get("client_id"))
		})
	}
}

// Point 3: x/oauth2's wrappers around a PersistentTokenSource, 8 clients
// and 100 goroutines, race-free under -race.
func TestAdapterWrappersRaceFree(t *testing.T) {
	t.Parallel()
	wrappers := []struct {
		name string
		new  func(ctx context.Context, conf *oauth2.Config, src oauth2.TokenSource) *http.Client
	}{
		{"oauth2.NewClient", func(ctx context.Context, _ *oauth2.Config, src oauth2.TokenSource) *http.Client {
			return oauth2.NewClient(ctx, src)
		}},
		{"ReuseTokenSource", func(ctx context.Context, _ *oauth2.Config, src oauth2.TokenSource) *http.Client {
			return oauth2.NewClient(ctx, oauth2.ReuseTokenSource(nil, src))
		}},
		{"ReuseTokenSourceWithExpiry", func(ctx context.Context, _ *oauth2.Config, src oauth2.TokenSource) *http.Client {
			return oauth2.NewClient(ctx, oauth2.ReuseTokenSourceWithExpiry(nil, src, time.Minute))
		}},
		{"oauth2.Config.Client", func(ctx context.Context, conf *oauth2.Config, src oauth2.TokenSource) *http.Client {
			tok, err := src.Token()
			if err != nil {
				panic(err)
			}
			return conf.Client(ctx, tok)
		}},
	}
	const clients, goroutines = 8, 100
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			srv := adapterServer(t)
			ctx := ultracart.NewContext(context.Background())
			conf := plainConfig(srv)
			src := ultracart.PersistentTokenSource(ctx, conf, ultracart.NewMemoryStore(srv.IssueToken("")))
			cs := make([]*http.Client, clients)
			for i := range cs {
				cs[i] = w.new(ctx, conf, src)
			}
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					status, err := getItems(t, cs[i%clients], srv)
					assert.NoError(t, err)
					assert.Equal(t, http.StatusOK, status)
				})
			}
			wg.Wait()
			assert.Equal(t, goroutines, srv.Stats().API)
			assert.Zero(t, srv.Stats().Refresh)
		})
	}
}

// Point 4: NewContext's client keeps each request's own context; the one
// given to NewContext serves only the device authorization request.
func TestAdapterNewContextKeepsRequestContext(t *testing.T) {
	srv := adapterServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	client := ultracart.NewContext(ctx).Value(oauth2.HTTPClient).(*http.Client)
	cancel()
	req, err := http.NewRequest(http.MethodGet, srv.URL+ultracarttest.ItemsPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.IssueToken("").AccessToken)
	resp, err := client.Do(req)
	require.NoError(t, err, "the canceled context of NewContext is not this request's")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// The device authorization request, which x/oauth2 sends without a
	// context, still gets NewContext's.
	_, err = plainConfig(srv).DeviceAuth(ultracart.NewContext(ctx))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	for _, r := range srv.Requests() {
		assert.NotEqual(t, ultracarttest.DeviceAuthPath, r.Path, "a device authorization request left")
	}
}

// Point 8: a 401 of the REST API matches ErrInvalidToken, through
// CheckResponse, whichever client made the request.
func TestAdapterInvalidToken(t *testing.T) {
	srv := adapterServer(t)
	dead := srv.IssueToken("")
	srv.ExpireAccessTokens()
	dead.RefreshToken = ""
	for _, c := range []struct {
		name   string
		client *http.Client
	}{
		{"oauth2.NewClient", oauth2.NewClient(ultracart.NewContext(context.Background()), oauth2.StaticTokenSource(dead))},
		{"NewClient(StaticTokenSource)", ultracart.NewClient(context.Background(), oauth2.StaticTokenSource(dead))},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, err := getItems(t, c.client, srv)
			assert.Equal(t, http.StatusUnauthorized, status)
			require.Error(t, err)
			assert.ErrorIs(t, err, ultracart.ErrInvalidToken)
			assert.NotErrorIs(t, err, ultracart.ErrInvalidGrant)
			assert.NotContains(t, err.Error(), dead.AccessToken)
		})
	}
}
