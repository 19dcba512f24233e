package ultracart

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// The tests of PersistentTokenSource. Time is the test's clock (psClock) or
// a synctest bubble's; where a test must know that Token did not wait for a
// refresh, it holds the refresh request at a gate and sees Token return
// meanwhile.

const psClientID = "persist-client"

type psClock struct{ ns atomic.Int64 }

func newPSClock() *psClock {
	c := new(psClock)
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *psClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *psClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// psStore wraps a MemoryStore, records what is done to it and fails on
// demand.
type psStore struct {
	inner *MemoryStore

	mu       sync.Mutex
	ops      []string
	saveErrs []error // the next Saves fail with these, one each
	loadErr  error
}

func newPSStore(t *oauth2.Token) *psStore { return &psStore{inner: NewMemoryStore(t)} }

func (s *psStore) record(op string) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
}

func (s *psStore) takeOps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := s.ops
	s.ops = nil
	return ops
}

func (s *psStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.record("load")
	s.mu.Lock()
	err := s.loadErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.inner.Load(ctx)
}

func (s *psStore) Save(ctx context.Context, t *oauth2.Token) error {
	s.mu.Lock()
	var err error
	if len(s.saveErrs) > 0 {
		err, s.saveErrs = s.saveErrs[0], s.saveErrs[1:]
	}
	s.mu.Unlock()
	if err != nil {
		s.record("save failed")
		return err
	}
	s.record("save")
	return s.inner.Save(ctx, t)
}

func (s *psStore) Lock(ctx context.Context) (func(), error) {
	unlock, err := s.inner.Lock(ctx)
	if err != nil {
		s.record("lock failed")
		return nil, err
	}
	s.record("lock")
	return func() { s.record("unlock"); unlock() }, nil
}

func (s *psStore) stored(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := s.inner.Load(context.Background())
	require.NoError(t, err)
	return tok
}

type psPlainStore struct{ TokenStore }

func psServer(t *testing.T) *ultracarttest.Server {
	t.Helper()
	srv := ultracarttest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

func psConfig(srv *ultracarttest.Server) *oauth2.Config {
	return &oauth2.Config{ClientID: psClientID, Endpoint: srv.Endpoint()}
}

func psSource(ctx context.Context, conf *oauth2.Config, store TokenStore, clock *psClock, opts *PersistentOptions) *persistentSource {
	s := newPersistentSource(ctx, conf, store, opts)
	s.now = clock.now
	return s
}

// moveClock sets clock to at, and makes the server issue tokens that live
// an hour by that clock.
func moveClock(srv *ultracarttest.Server, clock *psClock, at time.Time) {
	clock.ns.Store(at.UnixNano())
	o := srv.Options()
	o.TokenLifetime = time.Until(at) + time.Hour
	srv.SetOptions(o)
}

func psExpired(tok *oauth2.Token, now time.Time) *oauth2.Token {
	c := *tok
	c.Expiry = now.Add(-time.Hour)
	return &c
}

// tokenExpiringIn returns a token the server issued, expiring d after the
// clock's now, with the lifetime lifetime (expires_in, 0 for unknown).
func tokenExpiringIn(srv *ultracarttest.Server, clock *psClock, d, lifetime time.Duration) *oauth2.Token {
	tok := *srv.IssueToken("")
	tok.Expiry = clock.now().Add(d)
	tok.ExpiresIn = int64(lifetime / time.Second)
	return &tok
}

func assertRefreshRequest(t *testing.T, srv *ultracarttest.Server, refreshToken string) {
	t.Helper()
	var req ultracarttest.Request
	for _, r := range srv.Requests() {
		if r.Path == ultracarttest.TokenPath {
			req = r
		}
	}
	require.NotEmpty(t, req.Path, "no token request")
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {psClientID},
	}, req.Form)
	assert.Equal(t, APIVersion, req.Header.Get(APIVersionHeader))
	assert.Equal(t, "application/x-www-form-urlencoded", req.Header.Get("Content-Type"))
}

func assertNoSecrets(t *testing.T, err error, toks ...*oauth2.Token) {
	t.Helper()
	for _, tok := range toks {
		for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
			if secret != "" {
				assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, err), secret)
			}
		}
	}
}

// gate is a transport that holds each request until the test lets it
// through, and counts the requests it saw.
type gate struct {
	arrived chan struct{} // one value per request
	open    chan struct{} // closed to let requests through
	n       atomic.Int32
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 1024), open: make(chan struct{})}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.n.Add(1)
	g.arrived <- struct{}{}
	select {
	case <-g.open:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (g *gate) context() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: g})
}

func (g *gate) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no request reached the gate")
	}
}

// tokenNow calls src.Token on another goroutine and requires that it
// returns while the refresh request is held at the gate: Token did not wait
// for the refresh.
func tokenNow(t *testing.T, src oauth2.TokenSource) *oauth2.Token {
	t.Helper()
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.tok
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Token waited for the refresh held at the gate")
	}
	return nil
}

func waitFlight(t *testing.T, s *persistentSource) {
	t.Helper()
	s.mu.Lock()
	f := s.flight
	s.mu.Unlock()
	if f == nil {
		return
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the refresh did not end")
	}
}

func flying(s *persistentSource) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flight != nil
}

func psConcurrently(srcs []oauth2.TokenSource, n int) ([]*oauth2.Token, []error) {
	toks := make([]*oauth2.Token, n*len(srcs))
	errs := make([]error, n*len(srcs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range toks {
		wg.Go(func() {
			<-start
			toks[i], errs[i] = srcs[i%len(srcs)].Token()
		})
	}
	close(start)
	wg.Wait()
	return toks, errs
}

// psPauses checks n pauses of 1 s, 2 s, 4 s …: ten calls a nanosecond
// before a pause ends make no attempt, and ten at its end make one.
func psPauses(t *testing.T, clock *psClock, n int, call func(), attempts func() int) {
	t.Helper()
	want := attempts()
	for i := range n {
		for _, wait := range []time.Duration{time.Second<<i - 1, 1} {
			clock.add(wait)
			for range 10 {
				call()
			}
			if wait == 1 {
				want++
			}
			assert.Equal(t, want, attempts(), "pause %d, after %v more", i+1, wait)
		}
	}
}

// psGet sends one GET to the fake's protected resource through client; a
// response is closed and given as its status.
func psGet(t *testing.T, client *http.Client, srv *ultracarttest.Server) (int, error) {
	t.Helper()
	resp, err := client.Get(srv.URL + ultracarttest.ItemsPath)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestPersistentTokenSourceEmptyStore(t *testing.T) {
	srv := psServer(t)
	for _, tc := range []struct {
		name  string
		store TokenStore
		where string
	}{
		{"memory", NewMemoryStore(nil), "the memory store"},
		{"file", NewFileStore(filepath.Join(t.TempDir(), "none", "token.json")), "token.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := PersistentTokenSource(context.Background(), psConfig(srv), tc.store)
			for range 2 { // not cached: each call asks the store
				tok, err := src.Token()
				assert.Nil(t, tok)
				assert.ErrorIs(t, err, ErrNoToken)
				assert.ErrorContains(t, err, "run the authorization flow first")
				assert.ErrorContains(t, err, tc.where)
				assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			}
			assert.Equal(t, ultracarttest.Stats{}, srv.Stats())

			want := srv.IssueToken("")
			require.NoError(t, tc.store.Save(context.Background(), want))
			tok, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, want.AccessToken, tok.AccessToken)
		})
	}
}

func TestPersistentTokenSourceCachesValidToken(t *testing.T) {
	srv := psServer(t)
	want := srv.IssueToken("")
	store := newPSStore(want)
	src := PersistentTokenSource(context.Background(), psConfig(srv), store)

	first, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, want.AccessToken, first.AccessToken)
	assert.Equal(t, want.RefreshToken, first.RefreshToken)
	assert.Equal(t, []string{"load"}, store.takeOps(), "a valid stored token is read without the lock")

	shared, err := src.(*persistentSource).sharedToken()
	require.NoError(t, err)
	for range 10 {
		tok, err := src.Token()
		require.NoError(t, err)
		assert.NotSame(t, first, tok, "each caller gets a token of its own")
		assert.NotSame(t, shared, tok, "never the cached one")
		assert.Equal(t, *shared, *tok)
		again, err := src.(*persistentSource).sharedToken()
		require.NoError(t, err)
		assert.Same(t, shared, again, "the clients of this package read the cached token")
	}
	assert.Empty(t, store.takeOps(), "a valid cached token does not touch the store")
	assert.Equal(t, ultracarttest.Stats{}, srv.Stats(), "nor the network")

	// The hot path of NewClient's client: the token it reads from the source.
	tr := NewClient(context.Background(), src).Transport.(*bearerTransport)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if _, err := tr.token(); err != nil {
			panic(err)
		}
	}))
}

// TestPersistentTokenSourceWindows: where the token stands against its
// expiry decides what Token does: hand it out (keep), hand it out and
// refresh it in the background, or make the caller wait for a refresh.
// Each edge is tried to the nanosecond.
func TestPersistentTokenSourceWindows(t *testing.T) {
	const noRefreshToken = "ultracart: the stored token has expired and has no refresh token; run the authorization flow again"
	for _, tc := range []struct {
		name                     string
		left                     time.Duration // before the token's expiry
		lifetime                 time.Duration // the token's expires_in; 0: unknown
		early, ahead             time.Duration // the options' EarlyExpiry and RefreshAhead
		noExpiry, noAccess, noRT bool
		want                     string // "keep", "background", "wait", or the error of the caller
	}{
		{name: "an hour", left: time.Hour, lifetime: time.Hour, want: "keep"},
		{name: "no expiry", noExpiry: true, want: "keep"},
		{name: "5m+1ns", left: 5*time.Minute + 1, lifetime: time.Hour, want: "keep"},
		{name: "5m", left: 5 * time.Minute, lifetime: time.Hour, want: "keep"},
		{name: "5m-1ns", left: 5*time.Minute - 1, lifetime: time.Hour, want: "background"},
		{name: "unknown lifetime, 5m-1ns", left: 5*time.Minute - 1, want: "background"},
		{name: "10s+1ns", left: 10*time.Second + 1, lifetime: time.Hour, want: "background"},
		{name: "10s", left: 10 * time.Second, lifetime: time.Hour, want: "background"},
		{name: "10s-1ns", left: 10*time.Second - 1, lifetime: time.Hour, want: "wait"},
		{name: "expired", left: -time.Hour, lifetime: time.Hour, want: "wait"},
		{name: "no access token", left: time.Hour, lifetime: time.Hour, noAccess: true, want: "wait"},
		{name: "a lifetime of 2m: half of it, 1m+1ns", left: time.Minute + 1, lifetime: 2 * time.Minute, want: "keep"},
		{name: "a lifetime of 2m: half of it, 1m", left: time.Minute, lifetime: 2 * time.Minute, want: "keep"},
		{name: "a lifetime of 2m: half of it, 1m-1ns", left: time.Minute - 1, lifetime: 2 * time.Minute, want: "background"},
		{name: "a lifetime of 15s: no window", left: 10*time.Second + 1, lifetime: 15 * time.Second, want: "keep"},
		{name: "window 1m, 1m+1ns", left: time.Minute + 1, lifetime: time.Hour, ahead: time.Minute, want: "keep"},
		{name: "window 1m, 1m-1ns", left: time.Minute - 1, lifetime: time.Hour, ahead: time.Minute, want: "background"},
		{name: "window 5s, 11s", left: 11 * time.Second, lifetime: time.Hour, ahead: 5 * time.Second, want: "keep"},
		{name: "window 5s, inside the early window", left: 5 * time.Second, lifetime: time.Hour, ahead: 5 * time.Second, want: "wait"},
		{name: "disabled, 1m", left: time.Minute, lifetime: time.Hour, ahead: -1, want: "keep"},
		{name: "disabled, 10s-1ns", left: 10*time.Second - 1, lifetime: time.Hour, ahead: -1, want: "wait"},
		{name: "no refresh token, 1m", left: time.Minute, lifetime: time.Hour, noRT: true, want: "keep"},
		{name: "no refresh token, expired", left: -time.Hour, noRT: true, want: noRefreshToken},
		{name: "early 1m, 1m+1ns", left: time.Minute + 1, early: time.Minute, ahead: -1, want: "keep"},
		{name: "early 1m, 1m-1ns", left: time.Minute - 1, early: time.Minute, ahead: -1, want: "wait"},
		{name: "negative early is used as given, expired 59s ago", left: -59 * time.Second, early: -time.Minute, ahead: -1, want: "keep"},
		{name: "negative early is used as given, expired 61s ago", left: -61 * time.Second, early: -time.Minute, ahead: -1, want: "wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := tokenExpiringIn(srv, clock, tc.left, tc.lifetime)
			if tc.noExpiry {
				old.Expiry = time.Time{}
			}
			if tc.noAccess {
				old.AccessToken = ""
			}
			if tc.noRT {
				old.RefreshToken = ""
			}
			store := newPSStore(old)
			g := newGate()
			src := psSource(g.context(), psConfig(srv), store, clock, &PersistentOptions{EarlyExpiry: tc.early, RefreshAhead: tc.ahead})

			switch tc.want {
			case "keep", "background":
				// Two calls: the first loads the token, the second finds it
				// in the cache, which is where the window is checked.
				for range 2 {
					assert.Equal(t, old.AccessToken, tokenNow(t, src).AccessToken, "the still-valid token, at once")
				}
				if tc.want == "keep" {
					assert.False(t, flying(src), "no refresh runs")
					assert.Zero(t, g.n.Load())
					assert.Equal(t, []string{"load"}, store.takeOps(), "a usable stored token is read without the lock")
					return
				}
				g.waitArrival(t)
				assert.True(t, flying(src), "a refresh runs in the background")
				assert.Equal(t, old.AccessToken, tokenNow(t, src).AccessToken, "still the old token while the refresh is held")
				close(g.open)
				waitFlight(t, src)
				assert.Equal(t, []string{"load", "load", "lock", "load", "save", "unlock"}, store.takeOps(),
					"the first load; then, in the background, a read without the lock and a refresh under it")
			case "wait":
				close(g.open)
				tok, err := src.Token()
				require.NoError(t, err)
				assert.NotEqual(t, old.AccessToken, tok.AccessToken, "the caller waited for the new token")
				assert.False(t, flying(src))
				assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps(), "read without the lock, then locked to refresh")
			default:
				tok, err := src.Token()
				assert.Nil(t, tok)
				assert.EqualError(t, err, tc.want)
				assert.ErrorIs(t, err, ErrInvalidGrant, "the merchant must authorize again")
				assert.Zero(t, g.n.Load(), "no token request")
				assert.Equal(t, []string{"load", "lock", "load", "unlock"}, store.takeOps())
				return
			}
			assert.Equal(t, int32(1), g.n.Load())
			assertRefreshRequest(t, srv, old.RefreshToken)
			tok, err := src.Token()
			require.NoError(t, err)
			assert.NotEqual(t, old.AccessToken, tok.AccessToken)
			assert.NotEqual(t, old.RefreshToken, tok.RefreshToken, "the server rotates refresh tokens")
			saved := store.stored(t)
			assert.Equal(t, tok.AccessToken, saved.AccessToken, "saved before it was handed out")
			assert.Equal(t, tok.RefreshToken, saved.RefreshToken)
			assert.True(t, tok.Expiry.Equal(saved.Expiry))
		})
	}
}

// psSlowTransport delays each request, so that callers pile up behind a
// refresh, and counts the requests.
type psSlowTransport struct {
	delay time.Duration
	n     atomic.Int32
}

func (t *psSlowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	time.Sleep(t.delay)
	return http.DefaultTransport.RoundTrip(r)
}

// One refresh per expiry, however many goroutines ask, over one source or
// several that share a locking store.
func TestPersistentTokenSourceConcurrentRefresh(t *testing.T) {
	for _, sources := range []int{1, 4} {
		// One source serializes its callers itself: its store has no lock.
		t.Run(fmt.Sprintf("sources=%d", sources), func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := psExpired(srv.IssueToken(""), clock.now())
			store := newPSStore(old)
			slow := &psSlowTransport{delay: 50 * time.Millisecond}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: slow})
			var srcs []oauth2.TokenSource
			var shared TokenStore = store
			if sources == 1 {
				shared = psPlainStore{store}
			}
			for range sources {
				srcs = append(srcs, psSource(ctx, psConfig(srv), shared, clock, nil))
			}

			toks, errs := psConcurrently(srcs, 128/sources)
			for i := range toks {
				require.NoError(t, errs[i])
				assert.Equal(t, toks[0].AccessToken, toks[i].AccessToken)
			}
			assert.Equal(t, 1, srv.Stats().Refresh, "one refresh for 128 callers")
			assert.Equal(t, int32(1), slow.n.Load(), "the context's HTTP client is used")
			assertRefreshRequest(t, srv, old.RefreshToken)
			assert.Equal(t, toks[0].AccessToken, store.stored(t).AccessToken)
			assert.Equal(t, 1, strings.Count(strings.Join(store.takeOps(), ","), "save"))
		})
	}
}

func (s *psStore) peekOps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops)
}

// A source whose token needs a refresh takes the token another process
// saved without waiting for the store's lock, which the test holds
// throughout; it locks only when that token too needs a refresh.
func TestPersistentTokenSourceAdoptsWithoutLock(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	expired := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(expired)
	src := psSource(context.Background(), psConfig(srv), store, clock, nil)

	unlock, err := store.inner.Lock(context.Background())
	require.NoError(t, err)
	fresh := srv.IssueToken("")
	require.NoError(t, store.inner.Save(context.Background(), fresh))
	tok, err := src.Token()
	require.NoError(t, err, "adopted without the lock")
	assert.Equal(t, fresh.AccessToken, tok.AccessToken)
	assert.Equal(t, []string{"load"}, store.takeOps())
	assert.Zero(t, srv.Stats().Token)

	// The saved token expires too: now the source must lock, and waits.
	moveClock(srv, clock, fresh.Expiry.Add(time.Minute))
	done := make(chan error, 1)
	go func() {
		_, err := src.Token()
		done <- err
	}()
	require.Eventually(t, func() bool { return len(store.peekOps()) >= 1 }, 10*time.Second, time.Millisecond,
		"the read without the lock")
	select {
	case err := <-done:
		require.FailNow(t, "refreshed without the lock", "err: %v", err)
	default:
	}
	assert.Zero(t, srv.Stats().Token, "no refresh while another holds the lock")
	unlock()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps())
	assert.Equal(t, 1, srv.Stats().Refresh)
}

// ErrPersist: a rotated refresh token that could not be saved is kept in
// memory and saved first on the next call, without a second refresh,
// unless by then the store holds another grant (it wins) or was emptied
// (the kept token is dropped). A refresh token that did not change loses
// nothing when its save fails.
func TestPersistentTokenSourcePersistFailure(t *testing.T) {
	errDisk := errors.New("disk full")
	for _, tc := range []struct {
		name      string
		failures  int    // saves that fail in a row
		keepRT    bool   // the server does not rotate refresh tokens
		meanwhile string // "grant": a new authorization was saved; "emptied": the store was emptied
	}{
		{name: "saved on the next call", failures: 1},
		{name: "saved after a second failure", failures: 2},
		{name: "a new grant saved meanwhile wins", failures: 1, meanwhile: "grant"},
		{name: "the store emptied meanwhile", failures: 1, meanwhile: "emptied"},
		{name: "refresh token unchanged: nothing lost", failures: 1, keepRT: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			srv.SetOptions(ultracarttest.Options{KeepRefreshTokens: tc.keepRT})
			clock := newPSClock()
			old := psExpired(srv.IssueToken(""), clock.now())
			store := newPSStore(old)
			for range tc.failures {
				store.saveErrs = append(store.saveErrs, errDisk)
			}
			events := make(chan RefreshEvent, 8)
			src := psSource(context.Background(), psConfig(srv), store, clock, &PersistentOptions{OnRefresh: func(e RefreshEvent) { events <- e }})
			event := func() RefreshEvent { // a caller's refresh reports before Token returns
				t.Helper()
				select {
				case e := <-events:
					return e
				default:
					require.FailNow(t, "OnRefresh was not called")
					return RefreshEvent{}
				}
			}

			tok, err := src.Token()
			ev := event()
			assert.Equal(t, []string{"load", "lock", "load", "save failed", "unlock"}, store.takeOps())
			assert.Equal(t, 1, srv.Stats().Refresh)
			if tc.keepRT {
				require.NoError(t, err)
				assert.NoError(t, ev.Err)
				assert.Equal(t, old.RefreshToken, tok.RefreshToken)
				assert.Nil(t, src.pending)
				assert.Equal(t, old.AccessToken, store.stored(t).AccessToken, "not saved")
				again, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, *tok, *again)
				assert.Empty(t, store.takeOps())
				return
			}
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, ErrPersist)
			assert.ErrorIs(t, err, errDisk)
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			kept := src.pending
			require.NotNil(t, kept, "the new token is kept in memory")
			assertNoSecrets(t, err, old, kept)
			assert.ErrorIs(t, ev.Err, ErrPersist)
			assert.True(t, ev.Rotated)
			assert.True(t, ev.NewExpiry.IsZero(), "no new token was handed out")
			assert.Equal(t, old.RefreshToken, store.stored(t).RefreshToken, "the store still holds the old token")
			for i := 1; i < tc.failures; i++ {
				_, err := src.Token()
				assert.ErrorIs(t, err, ErrPersist)
				assert.Equal(t, []string{"lock", "load", "save failed", "unlock"}, store.takeOps(), "a pending token is handled under the lock")
			}

			switch tc.meanwhile {
			case "grant":
				grant := srv.IssueToken("")
				require.NoError(t, store.inner.Save(context.Background(), grant))
				tok, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, grant.AccessToken, tok.AccessToken)
				assert.Nil(t, src.pending)
				assert.Equal(t, []string{"lock", "load", "unlock"}, store.takeOps())
				assert.Equal(t, grant.RefreshToken, store.stored(t).RefreshToken)
			case "emptied": // the merchant logged out, revoke removed the file
				store.loadErr = &noTokenError{where: "the test store"}
				for i, ops := range [][]string{{"lock", "load", "unlock"}, {"load", "lock", "load", "unlock"}} {
					tok, err := src.Token()
					assert.Nil(t, tok)
					assert.ErrorIs(t, err, ErrNoToken)
					assertNoSecrets(t, err, old, kept)
					assert.Equal(t, ops, store.takeOps(), "nothing saved")
					assert.Nil(t, src.pending, "the pending token is dropped")
					if i == 0 {
						assert.ErrorContains(t, err, "emptied", "the first call says what happened")
					}
				}
			default:
				tok, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, *kept, *tok)
				assert.Nil(t, src.pending)
				assert.Equal(t, []string{"lock", "load", "save", "unlock"}, store.takeOps())
				ev := event()
				assert.NoError(t, ev.Err)
				assert.True(t, ev.Rotated)
				assert.False(t, ev.Adopted)
				assert.True(t, ev.NewExpiry.Equal(tok.Expiry))
				assert.Equal(t, *kept, *store.stored(t))
				assert.Equal(t, 1, srv.Stats().Refresh, "no second refresh")
				// The saved refresh token is the live one.
				moveClock(srv, clock, clock.now().Add(2*time.Hour)) // past every expiry so far
				_, err = src.Token()
				require.NoError(t, err)
				assertRefreshRequest(t, srv, kept.RefreshToken)
				return
			}
			assert.Equal(t, 1, srv.Stats().Refresh, "no second refresh")
		})
	}
}

// Invalidate: a rejection of the current token makes the next Token call
// reload and adopt or refresh; a rejection of another token changes
// nothing.
func TestPersistentTokenSourceInvalidate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reject      string // "current", "other", "empty", "nil"
		storeOther  bool   // another process saved another token meanwhile
		noRefresh   bool
		wantRefresh bool
		wantAdopt   bool
		wantErr     string
	}{
		{name: "current token", reject: "current", wantRefresh: true},
		{name: "current token, another saved", reject: "current", storeOther: true, wantAdopt: true},
		{name: "other token", reject: "other"},
		{name: "empty token", reject: "empty"},
		{name: "nil token", reject: "nil"},
		{name: "current token, no refresh token", reject: "current", noRefresh: true, wantErr: "rejected and has no refresh token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			issued := srv.IssueToken("")
			if tc.noRefresh {
				issued.RefreshToken = ""
			}
			store := newPSStore(issued)
			src := psSource(context.Background(), psConfig(srv), store, clock, nil)
			first, err := src.Token()
			require.NoError(t, err)
			store.takeOps()
			var other *oauth2.Token
			if tc.storeOther {
				other = srv.IssueToken("")
				require.NoError(t, store.inner.Save(context.Background(), other))
			}
			switch tc.reject {
			case "current":
				src.Invalidate(first)
				src.Invalidate(first) // twice: the same
			case "other":
				src.Invalidate(&oauth2.Token{AccessToken: "uc-at-someone-else"})
			case "empty":
				src.Invalidate(&oauth2.Token{})
			case "nil":
				src.Invalidate(nil)
			}
			tok, err := src.Token()
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.ErrorIs(t, err, ErrInvalidGrant, "the merchant must authorize again")
				assertNoSecrets(t, err, issued)
				return
			}
			require.NoError(t, err)
			switch {
			case tc.wantRefresh:
				assert.NotEqual(t, first.AccessToken, tok.AccessToken)
				assert.Equal(t, 1, srv.Stats().Refresh)
				assertRefreshRequest(t, srv, issued.RefreshToken)
				assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps())
				assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
			case tc.wantAdopt:
				assert.Equal(t, other.AccessToken, tok.AccessToken)
				assert.Zero(t, srv.Stats().Refresh)
				assert.Equal(t, []string{"load"}, store.takeOps())
			default:
				assert.Equal(t, first.AccessToken, tok.AccessToken)
				assert.Zero(t, srv.Stats().Refresh)
				assert.Empty(t, store.takeOps())
				return
			}
			// A late rejection of the replaced token changes nothing.
			src.Invalidate(first)
			again, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, tok.AccessToken, again.AccessToken)
			assert.Empty(t, store.takeOps())
		})
	}
}

// psCannedTransport answers every request with one token response and
// records the requests.
type psCannedTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
	form []url.Values
}

func (t *psCannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	form, _ := url.ParseQuery(string(b))
	t.mu.Lock()
	t.reqs = append(t.reqs, r)
	t.form = append(t.form, form)
	t.mu.Unlock()
	body := `{"access_token":"at-2","refresh_token":"rt-2","token_type":"bearer","expires_in":"3600"}`
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(body)),
		Request: r,
	}, nil
}

// The source refreshes through ctx's oauth2.HTTPClient but without ctx's
// cancellation, and a zero Endpoint means UltraCart's.
func TestPersistentTokenSourceContext(t *testing.T) {
	clock := newPSClock()
	canned := &psCannedTransport{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: canned}))
	cancel()
	store := newPSStore(&oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: clock.now().Add(-time.Minute)})
	src := psSource(ctx, &oauth2.Config{ClientID: psClientID}, store, clock, nil)

	tok, err := src.Token()
	require.NoError(t, err, "a canceled construction context does not break refreshes")
	assert.Equal(t, "at-2", tok.AccessToken)
	assert.Equal(t, "rt-2", tok.RefreshToken)
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
	require.Len(t, canned.reqs, 1)
	req := canned.reqs[0]
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, Endpoint.TokenURL, req.URL.String())
	assert.Equal(t, APIVersion, req.Header.Get(APIVersionHeader))
	assert.Equal(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}, "client_id": {psClientID}}, canned.form[0])
	assert.Equal(t, "rt-2", store.stored(t).RefreshToken)
}

func TestPersistentTokenSourceStoreFailures(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())

	t.Run("load", func(t *testing.T) {
		store := newPSStore(old)
		errIO := errors.New("input/output error")
		store.loadErr = errIO
		src := psSource(context.Background(), psConfig(srv), store, clock, nil)
		_, err := src.Token()
		require.ErrorIs(t, err, errIO)
		assert.NotErrorIs(t, err, ErrNoToken)
		assert.EqualError(t, err, "ultracart: loading the stored token: input/output error")
		assert.Equal(t, 0, srv.Stats().Token)

		store.loadErr = nil
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
	})

	t.Run("lock timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			store := newPSStore(old)
			unlock, err := store.inner.Lock(context.Background())
			require.NoError(t, err)
			defer unlock()
			start := time.Now()
			_, err = psSource(context.Background(), psConfig(srv), store, clock, nil).Token()
			assert.Equal(t, stepTimeout, time.Since(start), "the budget of the wait for the store")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.True(t, e.Temporary(), "a lock that timed out is worth a retry")
			assert.EqualError(t, err, "ultracart: waiting for the token store's lock timed out")
			assert.Equal(t, []string{"load", "lock failed"}, store.takeOps())
		})
	})

	t.Run("lock error", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "blocker")
		require.NoError(t, os.WriteFile(blocker, nil, 0o600))
		path := filepath.Join(blocker, "token.json")
		src := psSource(context.Background(), psConfig(srv), NewFileStore(path), clock, nil)
		before := srv.Stats().Token
		_, err := src.Token()
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "ultracart: waiting for the token store's lock: locking "+path+".lock: "), err.Error())
		var e *Error
		assert.False(t, errors.As(err, &e), "not a timeout")
		assert.Equal(t, before, srv.Stats().Token)
	})

	t.Run("nil arguments", func(t *testing.T) {
		_, err := PersistentTokenSource(context.Background(), psConfig(srv), nil).Token()
		assert.EqualError(t, err, "ultracart: PersistentTokenSource needs a TokenStore")
		_, err = PersistentTokenSource(context.Background(), nil, NewMemoryStore(old)).Token()
		assert.EqualError(t, err, "ultracart: PersistentTokenSource needs an oauth2.Config")
		//lint:ignore SA1012 a nil context must not panic
		tok, err := PersistentTokenSource(nil, psConfig(srv), NewMemoryStore(srv.IssueToken(""))).Token()
		require.NoError(t, err)
		assert.NotEmpty(t, tok.AccessToken)
	})
}

// No caller with a usable token waits for a refresh: 100 goroutines × 50
// calls all return while the one background refresh is held at the gate.
func TestPersistentTokenSourceRefreshAheadManyCallers(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := tokenExpiringIn(srv, clock, time.Minute, time.Hour)
	store := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	require.NoError(t, store.Save(context.Background(), old))
	g := newGate()
	src := psSource(g.context(), psConfig(srv), store, clock, nil)
	_, err := src.Token()
	require.NoError(t, err)

	var wg sync.WaitGroup
	var stale atomic.Int32
	for range 100 {
		wg.Go(func() {
			for range 50 {
				tok, err := src.Token()
				if !assert.NoError(t, err) {
					return
				}
				if tok.AccessToken == old.AccessToken {
					stale.Add(1)
				}
			}
		})
	}
	wg.Wait() // every call returned while the one refresh is held
	assert.Equal(t, int32(100*50), stale.Load(), "every caller kept the still-valid token")
	g.waitArrival(t)
	assert.Equal(t, int32(1), g.n.Load(), "one background refresh however many callers")

	close(g.open)
	waitFlight(t, src)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, srv.Stats().Refresh)
}

// A failing endpoint during the refresh-ahead window: callers keep the
// valid token while background attempts back off (1 s, 2 s, 4 s); once the
// token is inside the early window, the caller waits and gets the error.
func TestPersistentTokenSourceRefreshAheadFailingEndpoint(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := tokenExpiringIn(srv, clock, 2*time.Minute, time.Hour)
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock, nil)
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable, Body: `{"error":"temporarily_unavailable"}`})

	attempts := func() int { return srv.Stats().Refresh }
	call := func() {
		t.Helper()
		tok, err := src.Token()
		require.NoError(t, err, "the error stays away while the token is usable")
		assert.Equal(t, old.AccessToken, tok.AccessToken)
		waitFlight(t, src)
	}
	call() // the first load
	require.Equal(t, 0, attempts())
	call()
	assert.Equal(t, 1, attempts())
	psPauses(t, clock, 3, call, attempts)

	// Inside the early window, after the pause, the caller waits and gets
	// the error; until the next pause ends, callers get it at once.
	clock.ns.Store(old.Expiry.Add(-5 * time.Second).UnixNano())
	tok, err := src.Token()
	assert.Nil(t, tok)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Temporary())
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, 5, attempts())
	_, err2 := src.Token()
	assert.Same(t, err, err2, "the same error, at once")
	assert.Equal(t, 5, attempts()) // a success ends the backoff: TestPersistentTokenSourceDownEndpointAskedOncePerPause
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 8: time.Minute, 1000: time.Minute} {
		assert.Equal(t, want, backoff(n), "failure %d", n)
	}
}

// OnRefresh is called once per refresh, once the store is unlocked and the
// outcome published, with what happened and nothing secret.
func TestPersistentTokenSourceOnRefresh(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	store := newPSStore(tokenExpiringIn(srv, clock, time.Hour, time.Hour))
	type call struct {
		ev       RefreshEvent
		unlocked bool // the store's lock was free during the call
		tok      *oauth2.Token
		tokErr   error
	}
	calls := make(chan call, 16)
	var src *persistentSource
	src = psSource(context.Background(), psConfig(srv), store, clock, &PersistentOptions{OnRefresh: func(e RefreshEvent) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := call{ev: e}
		if unlock, err := store.inner.Lock(ctx); err == nil {
			c.unlocked = true
			unlock()
		}
		if e.Err == nil {
			c.tok, c.tokErr = src.Token() // the hook may use the source
		}
		calls <- c
	}})
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			require.FailNow(t, "OnRefresh was not called")
		}
		return call{}
	}

	// The first load is not a refresh.
	first, err := src.Token()
	require.NoError(t, err)
	assert.Empty(t, calls)

	// A background refresh, with rotation.
	moveClock(srv, clock, first.Expiry.Add(-time.Minute))
	_, err = src.Token()
	require.NoError(t, err)
	c := next()
	assert.True(t, c.unlocked, "called once the store is unlocked")
	require.NoError(t, c.tokErr)
	assert.True(t, c.ev.Background)
	assert.True(t, c.ev.Rotated)
	assert.False(t, c.ev.Adopted)
	assert.NoError(t, c.ev.Err)
	assert.True(t, c.ev.OldExpiry.Equal(first.Expiry))
	second := store.stored(t)
	assert.True(t, c.ev.NewExpiry.Equal(second.Expiry))
	assert.Equal(t, second.AccessToken, c.tok.AccessToken, "the new token is published before the call")

	// A caller's refresh without rotation.
	srv.SetOptions(func() ultracarttest.Options { o := srv.Options(); o.KeepRefreshTokens = true; return o }())
	moveClock(srv, clock, second.Expiry.Add(time.Minute))
	third, err := src.Token()
	require.NoError(t, err)
	c = next()
	assert.False(t, c.ev.Background)
	assert.False(t, c.ev.Rotated)
	assert.True(t, c.ev.OldExpiry.Equal(second.Expiry))
	assert.True(t, c.ev.NewExpiry.Equal(third.Expiry))

	// An adoption: another source saved a new token.
	other := tokenExpiringIn(srv, clock, 2*time.Hour, time.Hour)
	require.NoError(t, store.inner.Save(context.Background(), other))
	moveClock(srv, clock, third.Expiry.Add(-time.Minute))
	_, err = src.Token()
	require.NoError(t, err)
	c = next()
	assert.True(t, c.ev.Adopted)
	assert.False(t, c.ev.Rotated)
	assert.True(t, c.ev.NewExpiry.Equal(other.Expiry))
	assert.Equal(t, other.AccessToken, c.tok.AccessToken)

	// A failure, with its class.
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"error":"invalid_grant","error_description":"revoked"}`, Times: 1})
	moveClock(srv, clock, other.Expiry.Add(time.Minute))
	_, err = src.Token()
	require.ErrorIs(t, err, ErrInvalidGrant)
	c = next()
	assert.ErrorIs(t, c.ev.Err, ErrInvalidGrant)
	assert.True(t, c.ev.NewExpiry.IsZero())
	assertNoSecrets(t, c.ev.Err, other)
	assert.NotContains(t, fmt.Sprintf("%+v", c.ev), other.AccessToken)
	assert.NotContains(t, fmt.Sprintf("%+v", c.ev), other.RefreshToken)
	assert.Empty(t, calls, "one call per refresh")
}

// Issue 16, point 2: a REST resource that answers 401 to every token. The
// first rejection replaces the token; the replacement, obtained moments
// ago, is not replaced again on a 401 until a pause (1 s, doubling) ends,
// and meanwhile each request fails with its 401 as ErrInvalidToken.
func TestPersistentTokenSourceRejectionStormRefreshesOnce(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	store := newPSStore(srv.IssueToken(""))
	src := psSource(context.Background(), psConfig(srv), store, clock, nil)
	client := NewClient(context.Background(), src)
	srv.Fail(ultracarttest.ItemsPath, ultracarttest.Fault{Status: http.StatusUnauthorized,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   `{"error":{"developer_message":"Permission denied"},"success":false}`})

	for i := range 20 {
		status, err := psGet(t, client, srv)
		assert.ErrorIs(t, err, ErrInvalidToken, "request %d (status %d)", i, status)
	}
	st := srv.Stats()
	assert.Equal(t, 1, st.Refresh, "one refresh for 20 rejected requests")
	assert.Equal(t, 21, st.API, "the first request was retried once")

	// Further refreshes on a 401 back off: 1 s, then 2 s.
	psPauses(t, clock, 2, func() {
		_, err := psGet(t, client, srv)
		assert.ErrorIs(t, err, ErrInvalidToken)
	}, func() int { return srv.Stats().Refresh })

	// After the pause, a replacement the REST API accepts ends the
	// backoff: the next rejection (say, a revocation) is acted on at once.
	clock.add(4 * time.Second)
	srv.ClearFaults()
	for want := 4; want <= 5; want++ {
		srv.ExpireAccessTokens()
		status, err := psGet(t, client, srv)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, want, srv.Stats().Refresh)
	}
}

// Issue 16, point 3: after UltraCart answered invalid_grant, the dead
// refresh token is not presented again; every call gets the same verdict
// until the store holds another grant.
func TestPersistentTokenSourceDeadRefreshTokenPresentedOnce(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	old.RefreshToken = fakeuc.RefreshTokenPrefix + "revoked0123456789"
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock, nil)
	client := NewClient(context.Background(), src)

	var errs []error
	for i := range 100 {
		_, err := psGet(t, client, srv)
		require.ErrorIs(t, err, ErrInvalidGrant)
		errs = append(errs, errors.Unwrap(err)) // the client's *url.Error holds the source's error
		if i == 0 {
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.False(t, e.Temporary())
			assertRefreshRequest(t, srv, old.RefreshToken)
			assert.Equal(t, []string{"load", "lock", "load", "unlock"}, store.takeOps(), "the store is left untouched")
		}
	}
	assert.Equal(t, 1, srv.Stats().Token)
	for _, err := range errs {
		assert.Same(t, errs[0], err, "the same verdict")
		assertNoSecrets(t, err, old)
	}
	assert.Equal(t, slices.Repeat([]string{"load"}, 99), store.takeOps(), "the store is read for another grant, without its lock")
	assert.Equal(t, old.RefreshToken, store.stored(t).RefreshToken)

	// A new authorization saved to the store ends the verdict, even one
	// that must be refreshed at once.
	fresh := psExpired(srv.IssueToken(""), clock.now())
	require.NoError(t, store.inner.Save(context.Background(), fresh))
	status, err := psGet(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2, srv.Stats().Token)
	assertRefreshRequest(t, srv, fresh.RefreshToken)
}

// Issue 16, point 4: with the token expired and the token endpoint down,
// one token request is made per pause (1 s, doubling): callers meanwhile
// get its error at once, and the first call after the pause tries
// again, with the same refresh token.
func TestPersistentTokenSourceDownEndpointAskedOncePerPause(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock, nil)
	client := NewClient(context.Background(), src)
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable})

	check := func(err error) {
		t.Helper()
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.True(t, e.Temporary())
		assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	}
	// 100 callers at once: one token request, and its error for all.
	toks, errs := psConcurrently([]oauth2.TokenSource{src}, 100)
	for i := range errs {
		assert.Nil(t, toks[i])
		assert.Same(t, errs[0], errs[i])
	}
	check(errs[0])
	assert.Equal(t, 1, srv.Stats().Token)
	assert.Equal(t, old.AccessToken, store.stored(t).AccessToken, "the store is left untouched")

	psPauses(t, clock, 3, func() {
		_, err := psGet(t, client, srv)
		check(err)
	}, func() int { return srv.Stats().Token })

	// Once the endpoint is back, the first call after the pause succeeds,
	// and a success ends the backoff.
	srv.ClearFaults()
	clock.add(8 * time.Second)
	status, err := psGet(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 5, srv.Stats().Token)
	assertRefreshRequest(t, srv, old.RefreshToken)
	assert.True(t, src.retryAt.IsZero(), "a success ends the backoff")
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
}

// psSlowStore is a MemoryStore whose Lock and Save first take their time,
// or give up when ctx ends first.
type psSlowStore struct {
	*MemoryStore
	lockWait, saveWait time.Duration
}

func psTakeTime(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *psSlowStore) Lock(ctx context.Context) (func(), error) {
	if err := psTakeTime(ctx, s.lockWait); err != nil {
		return nil, err
	}
	return s.MemoryStore.Lock(ctx)
}

func (s *psSlowStore) Save(ctx context.Context, t *oauth2.Token) error {
	if err := psTakeTime(ctx, s.saveWait); err != nil {
		return err
	}
	return s.MemoryStore.Save(ctx, t)
}

// psSlowEndpoint is a token endpoint that answers with a new token after
// wait, unless the request gives up first.
type psSlowEndpoint struct {
	wait time.Duration
	n    atomic.Int32
}

func (e *psSlowEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	e.n.Add(1)
	if err := psTakeTime(r.Context(), e.wait); err != nil {
		return nil, err
	}
	return (&psCannedTransport{}).RoundTrip(r)
}

// Issue 18, "the token request has its own budget": waiting for the
// store's lock may time out, but only before the token request is sent;
// the request then has its whole budget, and the token it brings is saved,
// however long the wait was. Time is the synctest bubble's.
func TestPersistentTokenSourceTokenRequestHasItsOwnBudget(t *testing.T) {
	for _, tc := range []struct {
		name                string
		lock, request, save time.Duration
		wantRequests        int32
		wantErr             bool
	}{
		{name: "a long wait for the lock, then a slow endpoint", lock: 29 * time.Second, request: 20 * time.Second, wantRequests: 1},
		{name: "every step takes most of its budget", lock: 29 * time.Second, request: 29 * time.Second, save: 29 * time.Second, wantRequests: 1},
		{name: "the lock comes too late: no request", lock: 31 * time.Second, wantErr: true},
		{name: "the endpoint answers too late", request: 31 * time.Second, wantRequests: 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				old := &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Hour)}
				store := &psSlowStore{MemoryStore: NewMemoryStore(old), lockWait: tc.lock, saveWait: tc.save}
				ep := &psSlowEndpoint{wait: tc.request}
				ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: ep})
				conf := &oauth2.Config{ClientID: psClientID, Endpoint: EndpointAt("http://127.0.0.1:9/rest/v2")}
				src := newPersistentSource(ctx, conf, store, nil)

				start := time.Now()
				tok, err := src.Token()
				assert.Equal(t, tc.wantRequests, ep.n.Load())
				saved, lerr := store.Load(context.Background())
				require.NoError(t, lerr)
				if tc.wantErr {
					var e *Error
					require.ErrorAs(t, err, &e)
					assert.True(t, e.Temporary(), "a timeout is worth a retry")
					assert.Equal(t, old.RefreshToken, saved.RefreshToken)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, "at-2", tok.AccessToken)
				assert.Equal(t, "rt-2", saved.RefreshToken, "the token UltraCart sent is saved")
				assert.Equal(t, tc.lock+tc.request+tc.save, time.Since(start))
			})
		})
	}
}

// The helper processes of the multi-process tests. They run
// when the test binary is started again with ULTRACART_PERSIST_HELPER set,
// as in os/exec's own tests.

const psHelperEnv = "ULTRACART_PERSIST_HELPER"

func TestPersistHelperProcess(t *testing.T) {
	mode := os.Getenv(psHelperEnv)
	if mode == "" {
		return // not a helper process
	}
	path, baseURL := os.Getenv("ULTRACART_PERSIST_PATH"), os.Getenv("ULTRACART_PERSIST_URL")
	var err error
	switch mode {
	case "refresh", "reject":
		err = psHelperRounds(path, baseURL, mode == "refresh")
	case "background":
		err = psHelperBackground(path, baseURL)
	case "save":
		err = psHelperSave(path)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type psHelper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
}

func startPSHelper(t testing.TB, mode string, env ...string) *psHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistHelperProcess$")
	// The race detector would sleep a second before a helper exits.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), append([]string{psHelperEnv + "=" + mode, "GORACE=" + gorace}, env...)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	h := &psHelper{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: new(strings.Builder)}
	cmd.Stderr = h.stderr
	require.NoError(t, cmd.Start())
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	return h
}

func (h *psHelper) line(t testing.TB) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			_ = h.cmd.Wait()
			require.FailNow(t, "the helper process ended", "stderr: %s", h.stderr.String())
		}
		return l
	case <-time.After(60 * time.Second):
		require.FailNow(t, "the helper process did not answer in time")
	}
	return ""
}

func (h *psHelper) send(t testing.TB, line string) {
	t.Helper()
	_, err := io.WriteString(h.stdin, line+"\n")
	require.NoError(t, err)
}

func (h *psHelper) finish(t testing.TB) {
	t.Helper()
	h.stdin.Close()
	for range h.lines {
	}
	require.NoError(t, h.cmd.Wait(), "stderr: %s", h.stderr.String())
}

func psHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func psHelperConfig(baseURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: psClientID, Endpoint: oauth2.Endpoint{
		TokenURL: baseURL + ultracarttest.TokenPath, AuthStyle: oauth2.AuthStyleInParams,
	}}
}

// psHelperRounds serves rounds: on "round N" from stdin it calls the
// protected resource from 16 goroutines at once through NewClient and
// prints "token HASH STATUS" with the token its source then holds and the
// worst status. With clock set, round N first moves the source's clock
// N×2h ahead (the server has expired the token, or rejects it, meanwhile).
func psHelperRounds(path, baseURL string, clock bool) error {
	var offset atomic.Int64
	src := newPersistentSource(context.Background(), psHelperConfig(baseURL), NewFileStore(path), nil)
	src.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	client := NewClient(context.Background(), src)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "round "))
		if err != nil {
			return err
		}
		if clock {
			offset.Store(int64(time.Duration(n) * 2 * time.Hour))
		}
		statuses := make([]int, 16)
		errs := make([]error, 16)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				resp, err := client.Get(baseURL + ultracarttest.ItemsPath)
				if err != nil {
					errs[i] = err
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		tok, err := src.sharedToken()
		if err != nil {
			return err
		}
		fmt.Printf("token %s %d\n", psHash(tok.AccessToken), slices.Max(statuses))
	}
	return sc.Err()
}

// psRounds runs rounds of a multi-process test: before each, next(n) makes
// the token the helpers hold unusable; then every helper is asked once, and
// every one must answer with the token saved in store, new in each round,
// after exactly one refresh between them all.
func psRounds(t *testing.T, srv *ultracarttest.Server, store *FileStore, helpers []*psHelper, rounds int, next func(n int)) {
	t.Helper()
	seen := map[string]bool{}
	for n := 1; n <= rounds; n++ {
		next(n)
		before := srv.Stats().Refresh
		for _, h := range helpers {
			h.send(t, fmt.Sprintf("round %d", n))
		}
		var answers []string
		for _, h := range helpers {
			answers = append(answers, h.line(t))
		}
		saved, err := store.Load(context.Background())
		require.NoError(t, err)
		want := fmt.Sprintf("token %s 200", psHash(saved.AccessToken))
		for _, a := range answers {
			assert.Equal(t, want, a, "round %d: every process holds the saved token, every call succeeded", n)
		}
		assert.False(t, seen[want], "round %d: a new token", n)
		seen[want] = true
		assert.Equal(t, 1, srv.Stats().Refresh-before, "round %d: exactly one refresh for %d processes", n, len(helpers))
	}
	for _, h := range helpers {
		h.finish(t)
	}
}

// startPSHelpers starts n helper processes in mode over one FileStore,
// holding the token the server issues now.
func startPSHelpers(t *testing.T, srv *ultracarttest.Server, mode string, n int) (*FileStore, []*psHelper) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "merchant", "token.json")
	store := NewFileStore(path)
	require.NoError(t, store.Save(context.Background(), srv.IssueToken("")))
	helpers := make([]*psHelper, n)
	for i := range helpers {
		helpers[i] = startPSHelper(t, mode, "ULTRACART_PERSIST_PATH="+path, "ULTRACART_PERSIST_URL="+srv.URL)
	}
	return store, helpers
}

// One refresh per expiry across processes that share a FileStore: 4
// processes × 16 goroutines, each round on a token that expired.
func TestPersistentTokenSourceProcessesShareFileStore(t *testing.T) {
	const processes, rounds = 4, 3
	srv := psServer(t)
	// The token is issued for an hour: expired for the helpers, whose
	// clocks run 2h ahead in the first round.
	store, helpers := startPSHelpers(t, srv, "refresh", processes)
	psRounds(t, srv, store, helpers, rounds, func(n int) {
		// Tokens of round n live until the helpers' clocks pass into round
		// n+1, and no longer.
		srv.SetOptions(ultracarttest.Options{TokenLifetime: time.Duration(n)*2*time.Hour + time.Hour})
	})
	assert.Equal(t, rounds*processes*16, srv.Stats().API)
}

// Processes whose requests were all rejected with the same token make one
// refresh between them.
func TestPersistentTokenSourceProcessesRecoverRejectedToken(t *testing.T) {
	srv := psServer(t)
	store, helpers := startPSHelpers(t, srv, "reject", 4)
	psRounds(t, srv, store, helpers, 3, func(int) {
		srv.ExpireAccessTokens() // every process holds a token the API now rejects
	})
}

// psHelperBackground loads a token that is due for a background refresh
// from the FileStore at path, prints "token HASH" with the token Token
// returned at once, and then waits, while its background refresh runs, to
// be killed.
func psHelperBackground(path, baseURL string) error {
	src := PersistentTokenSource(context.Background(), psHelperConfig(baseURL), NewFileStore(path))
	for range 2 { // the first call loads, the second starts the refresh
		tok, err := src.Token()
		if err != nil {
			return err
		}
		fmt.Printf("token %s\n", psHash(tok.AccessToken))
	}
	select {}
}

// A process killed in the middle of its background refresh, while it holds
// the FileStore's lock (which another process then waits for) and the
// token endpoint holds its request: the file keeps the old token, whole,
// and the lock is free.
func TestPersistentTokenSourceProcessKilledMidRefresh(t *testing.T) {
	srv := psServer(t)
	path := filepath.Join(t.TempDir(), "token.json")
	clock := newPSClock() // the helper uses the real clock: keep to it
	old := tokenExpiringIn(srv, clock, 2*time.Minute, time.Hour)
	require.NoError(t, NewFileStore(path).Save(context.Background(), old))
	// The helper's refresh request is held until its connection closes.
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Delay: time.Hour, Times: 1})

	h := startPSHelper(t, "background", "ULTRACART_PERSIST_PATH="+path, "ULTRACART_PERSIST_URL="+srv.URL)
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	})
	assert.Equal(t, "token "+psHash(old.AccessToken), h.line(t))
	assert.Equal(t, "token "+psHash(old.AccessToken), h.line(t), "the still-valid token, at once")
	require.Eventually(t, func() bool { return srv.Stats().Refresh == 1 }, 10*time.Second, time.Millisecond,
		"the helper's background refresh reaches the server")
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := NewFileStore(path).Lock(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the helper holds the lock")
	require.NoError(t, h.cmd.Process.Kill())

	stored, err := NewFileStore(path).Load(context.Background())
	require.NoError(t, err, "the file is whole")
	assert.Equal(t, old.AccessToken, stored.AccessToken)
	assert.Equal(t, old.RefreshToken, stored.RefreshToken)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := NewFileStore(path).Lock(ctx)
	require.NoError(t, err, "the killed process's lock is gone")
	unlock()
}

// psTokenServer is a token endpoint on 127.0.0.1 that redeems rt-N for
// at-(N+1) and rt-(N+1), living lifetime, after delay; it counts requests.
func psTokenServer(b *testing.B, delay, lifetime time.Duration, requests *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.PostFormValue("refresh_token"), "rt-"))
		requests.Add(1)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","refresh_token":"rt-%d","expires_in":%d}`, n+1, n+1, int(lifetime.Seconds()))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkExpiryTail backs "no request waits for a refresh": 100 goroutines
// read the token while a 500 ms token endpoint refreshes it 3 times. It
// reports the longest read while the token had time left (max-live-ns), the
// reads that waited for a refresh (over 250 ms) per refresh request, and
// refresh requests per expiry; impl=reuse is x/oauth2's ReuseTokenSource,
// impl=persistent NewClient's read of a PersistentTokenSource over a
// FileStore refreshing 2 s ahead (`benchstat -col /impl`).
func BenchmarkExpiryTail(b *testing.B) {
	const callers, delay, expiries = 100, 500 * time.Millisecond, 3
	for _, impl := range []string{"reuse", "persistent"} {
		b.Run("impl="+impl, func(b *testing.B) {
			lifetime := 4 * time.Second
			if impl == "reuse" {
				lifetime = 11 * time.Second // ReuseTokenSource refreshes 10 s before the expiry
			}
			var requests, blocked, maxLive atomic.Int64
			srv := psTokenServer(b, delay, lifetime, &requests)
			conf := &oauth2.Config{ClientID: "bench-client", Endpoint: EndpointAt(srv.URL + "/rest/v2")}
			last := fmt.Sprintf("at-%d", expiries)
			for i := 0; i < b.N; i++ {
				seed := &oauth2.Token{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: time.Now().Add(lifetime), ExpiresIn: int64(lifetime / time.Second)}
				read := conf.TokenSource(context.Background(), seed).Token
				if impl == "persistent" {
					store := NewFileStore(filepath.Join(b.TempDir(), "token.json"))
					if err := store.Save(context.Background(), seed); err != nil {
						b.Fatal(err)
					}
					read = newPersistentSource(context.Background(), conf, store, &PersistentOptions{EarlyExpiry: time.Second, RefreshAhead: 2 * time.Second}).sharedToken
				}
				deadline := time.Now().Add(time.Minute)
				var done atomic.Bool
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						var held *oauth2.Token
						for !done.Load() {
							start := time.Now()
							tok, err := read()
							d := time.Since(start)
							if err != nil || start.After(deadline) {
								b.Errorf("no caller got %s: %v", last, err)
								done.Store(true)
								return
							}
							if held != nil && start.Before(held.Expiry) { // the longest so far, into maxLive
								for old := maxLive.Load(); int64(d) > old && !maxLive.CompareAndSwap(old, int64(d)); old = maxLive.Load() {
								}
							}
							if d > delay/2 {
								blocked.Add(1)
							}
							held = tok
							done.CompareAndSwap(false, tok.AccessToken == last)
							runtime.Gosched() // as a caller that does anything else with its token
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(maxLive.Load()), "max-live-ns")
			b.ReportMetric(float64(blocked.Load())/float64(max(requests.Load(), 1)), "blocked/refresh")
			b.ReportMetric(float64(requests.Load())/float64(b.N*expiries), "refreshes/expiry")
		})
	}
}
