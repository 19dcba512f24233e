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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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

	"github.com/ultracart-go/ultracart/ultracarttest"
)

const psClientID = "persist-client"

// psClock is a settable clock for the sources under test.
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

// stored returns what the store holds.
func (s *psStore) stored(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := s.inner.Load(context.Background())
	require.NoError(t, err)
	return tok
}

// psPlainStore hides the Lock method of the store it wraps.
type psPlainStore struct{ TokenStore }

// psServer starts a fake UltraCart.
func psServer(t *testing.T) *ultracarttest.Server {
	t.Helper()
	srv := ultracarttest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// psNextExpiry moves the clock two hours on, past the expiry of every token
// issued so far, and makes the server issue tokens that live an hour by
// that clock.
func psNextExpiry(srv *ultracarttest.Server, clock *psClock) {
	clock.add(2 * time.Hour)
	srv.SetOptions(ultracarttest.Options{TokenLifetime: time.Until(clock.now()) + time.Hour})
}

func psConfig(srv *ultracarttest.Server) *oauth2.Config {
	return &oauth2.Config{ClientID: psClientID, Endpoint: srv.Endpoint()}
}

// psExpired returns a copy of tok that expired an hour before now.
func psExpired(tok *oauth2.Token, now time.Time) *oauth2.Token {
	c := *tok
	c.Expiry = now.Add(-time.Hour)
	return &c
}

// psSource returns the source under test, on the clock.
func psSource(ctx context.Context, conf *oauth2.Config, store TokenStore, clock *psClock) *persistentSource {
	s := newPersistentSource(ctx, conf, store, nil)
	s.now = clock.now
	return s
}

// assertRefreshRequest checks the last request the token endpoint saw.
func assertRefreshRequest(t *testing.T, srv *ultracarttest.Server, refreshToken string) {
	t.Helper()
	req, ok := srv.LastRequest(ultracarttest.TokenPath)
	require.True(t, ok, "no token request")
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {psClientID},
	}, req.Form)
	assert.Equal(t, APIVersion, req.Header.Get(APIVersionHeader))
	assert.Equal(t, "application/x-www-form-urlencoded", req.Header.Get("Content-Type"))
}

// assertNoSecrets checks that err's text contains none of the tokens' secrets.
func assertNoSecrets(t *testing.T, err error, toks ...*oauth2.Token) {
	t.Helper()
	for _, tok := range toks {
		if tok == nil {
			continue
		}
		for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
			if secret != "" {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
			}
		}
	}
}

func TestPersistentTokenSourceEmptyStore(t *testing.T) {
	srv := psServer(t)
	for _, tc := range []struct {
		name  string
		store TokenStore
		where string
	}{
		{"memory", NewMemoryStore(nil), "the memory store"},
		{"zero memory", new(MemoryStore), "the memory store"},
		{"file", NewFileStore(filepath.Join(t.TempDir(), "none", "token.json")), "token.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := PersistentTokenSource(context.Background(), psConfig(srv), tc.store)
			for range 2 { // not cached: each call asks the store
				tok, err := src.Token()
				require.Error(t, err)
				assert.Nil(t, tok)
				assert.ErrorIs(t, err, ErrNoToken)
				assert.Contains(t, err.Error(), "run the authorization flow first")
				assert.Contains(t, err.Error(), tc.where)
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
}

func TestPersistentTokenSourceExpiryWindow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		expiresIn   time.Duration // from now; ignored when zeroExpiry
		zeroExpiry  bool
		noAccess    bool
		early       time.Duration // 0: PersistentTokenSource's default
		wantRefresh bool
	}{
		{name: "valid for an hour", expiresIn: time.Hour},
		{name: "10 seconds+1ns", expiresIn: 10*time.Second + 1},
		{name: "10 seconds", expiresIn: 10 * time.Second},
		{name: "10 seconds-1ns", expiresIn: 10*time.Second - 1, wantRefresh: true},
		{name: "1 second", expiresIn: time.Second, wantRefresh: true},
		{name: "expired an hour ago", expiresIn: -time.Hour, wantRefresh: true},
		{name: "no expiry", zeroExpiry: true},
		{name: "no access token", expiresIn: time.Hour, noAccess: true, wantRefresh: true},
		{name: "early 1m, 1m+1s", expiresIn: time.Minute + time.Second, early: time.Minute},
		{name: "early 1m, 59s", expiresIn: 59 * time.Second, early: time.Minute, wantRefresh: true},
		{name: "early 1m, 11s", expiresIn: 11 * time.Second, early: time.Minute, wantRefresh: true},
		{name: "negative early is used as given, 11s", expiresIn: 11 * time.Second, early: -time.Minute},
		{name: "negative early is used as given, expired 59s ago", expiresIn: -59 * time.Second, early: -time.Minute},
		{name: "negative early is used as given, expired 61s ago", expiresIn: -61 * time.Second, early: -time.Minute, wantRefresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			issued := srv.IssueToken("")
			old := *issued
			old.Expiry = clock.now().Add(tc.expiresIn)
			if tc.zeroExpiry {
				old.Expiry = time.Time{}
			}
			if tc.noAccess {
				old.AccessToken = ""
			}
			store := newPSStore(&old)
			var src *persistentSource
			if tc.early == 0 {
				src = PersistentTokenSource(context.Background(), psConfig(srv), store).(*persistentSource)
			} else {
				src = PersistentTokenSourceWithOptions(context.Background(), psConfig(srv), store, &PersistentOptions{EarlyExpiry: tc.early}).(*persistentSource)
			}
			src.now = clock.now

			tok, err := src.Token()
			require.NoError(t, err)
			if !tc.wantRefresh {
				assert.Equal(t, old.AccessToken, tok.AccessToken)
				assert.Equal(t, ultracarttest.Stats{}, srv.Stats())
				assert.Equal(t, []string{"load"}, store.takeOps(), "a usable stored token is read without the lock")
				return
			}
			assert.Equal(t, 1, srv.Stats().Refresh)
			assertRefreshRequest(t, srv, old.RefreshToken)
			assert.NotEqual(t, old.AccessToken, tok.AccessToken)
			assert.True(t, strings.HasPrefix(tok.AccessToken, ultracarttest.AccessTokenPrefix))
			assert.NotEqual(t, old.RefreshToken, tok.RefreshToken, "the server rotates refresh tokens")
			assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps(), "read without the lock, then locked to refresh")
			saved := store.stored(t)
			assert.Equal(t, tok.AccessToken, saved.AccessToken)
			assert.Equal(t, tok.RefreshToken, saved.RefreshToken)
			assert.True(t, tok.Expiry.Equal(saved.Expiry))

			again, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, *tok, *again)
			assert.Equal(t, 1, srv.Stats().Refresh)
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

// psConcurrently calls Token of each source from n goroutines at once.
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

func TestPersistentTokenSourceConcurrentRefresh(t *testing.T) {
	for _, sources := range []int{1, 4} {
		t.Run(fmt.Sprintf("sources=%d", sources), func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := psExpired(srv.IssueToken(""), clock.now())
			store := newPSStore(old)
			slow := &psSlowTransport{delay: 50 * time.Millisecond}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: slow})
			var srcs []oauth2.TokenSource
			for range sources {
				srcs = append(srcs, psSource(ctx, psConfig(srv), store, clock))
			}

			toks, errs := psConcurrently(srcs, 128/sources)
			for i := range toks {
				require.NoError(t, errs[i])
				assert.Equal(t, toks[0].AccessToken, toks[i].AccessToken)
			}
			assert.Equal(t, 1, srv.Stats().Refresh, "one refresh for 128 callers")
			assert.Equal(t, int32(1), slow.n.Load())
			assertRefreshRequest(t, srv, old.RefreshToken)
			assert.Equal(t, toks[0].AccessToken, store.stored(t).AccessToken)
			ops := store.takeOps()
			saves := 0
			for _, op := range ops {
				if op == "save" {
					saves++
				}
			}
			assert.Equal(t, 1, saves, "%v", ops)

			// The next expiry: again one refresh, from the rotated token.
			psNextExpiry(srv, clock)
			toks2, errs2 := psConcurrently(srcs, 128/sources)
			for i := range toks2 {
				require.NoError(t, errs2[i])
				assert.Equal(t, toks2[0].AccessToken, toks2[i].AccessToken)
			}
			assert.NotEqual(t, toks[0].AccessToken, toks2[0].AccessToken)
			assert.Equal(t, 2, srv.Stats().Refresh)
			assertRefreshRequest(t, srv, toks[0].RefreshToken)
		})
	}
}

func TestPersistentTokenSourceConcurrentFailureSharesError(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock)
	// The delay keeps the refresh in flight until every caller waits for it.
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable, Delay: 300 * time.Millisecond, Times: 1})

	toks, errs := psConcurrently([]oauth2.TokenSource{src}, 128)
	for i := range toks {
		assert.Nil(t, toks[i])
		require.Error(t, errs[i])
		assert.Same(t, errs[0], errs[i], "every caller gets the error of the one refresh")
	}
	var e *Error
	require.ErrorAs(t, errs[0], &e)
	assert.True(t, e.Temporary())
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, 1, srv.Stats().Refresh)
	assert.Equal(t, old.AccessToken, store.stored(t).AccessToken)

	// Until the pause ends, callers get the same error without a request.
	_, err := src.Token()
	assert.Same(t, errs[0], err)
	assert.Equal(t, 1, srv.Stats().Refresh)
	clock.add(backoffMin)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Stats().Refresh)
	assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
}

func TestPersistentTokenSourceAdoptsSavedToken(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	a := psSource(context.Background(), psConfig(srv), store, clock)
	b := psSource(context.Background(), psConfig(srv), store, clock)

	tokA, err := a.Token()
	require.NoError(t, err)
	assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps())
	assert.Equal(t, 1, srv.Stats().Refresh)

	// b reads the store without the lock and finds a's token fresh: no refresh.
	tokB, err := b.Token()
	require.NoError(t, err)
	assert.Equal(t, tokA.AccessToken, tokB.AccessToken)
	assert.Equal(t, tokA.RefreshToken, tokB.RefreshToken)
	assert.Equal(t, []string{"load"}, store.takeOps())
	assert.Equal(t, 1, srv.Stats().Refresh)

	// After the next expiry, b refreshes first and a adopts b's token; a's
	// own refresh token was rotated away, so refreshing it would fail.
	psNextExpiry(srv, clock)
	tokB2, err := b.Token()
	require.NoError(t, err)
	tokA2, err := a.Token()
	require.NoError(t, err)
	assert.Equal(t, tokB2.AccessToken, tokA2.AccessToken)
	assert.Equal(t, 2, srv.Stats().Refresh)
	assertRefreshRequest(t, srv, tokA.RefreshToken)
	assert.Equal(t, []string{"load", "lock", "load", "save", "unlock", "load"}, store.takeOps())
}

func TestPersistentTokenSourceWithoutLocker(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), psPlainStore{store}, clock)

	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, []string{"load", "save"}, store.takeOps())
	assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
	assertRefreshRequest(t, srv, old.RefreshToken)
}

func TestPersistentTokenSourcePersistFailure(t *testing.T) {
	errDisk := errors.New("disk full")
	for _, failures := range []int{1, 2} {
		t.Run(fmt.Sprintf("failures=%d", failures), func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := psExpired(srv.IssueToken(""), clock.now())
			store := newPSStore(old)
			for range failures {
				store.saveErrs = append(store.saveErrs, errDisk)
			}
			src := psSource(context.Background(), psConfig(srv), store, clock)

			tok, err := src.Token()
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, ErrPersist)
			assert.ErrorIs(t, err, errDisk)
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			kept := src.pending
			require.NotNil(t, kept, "the new token is kept in memory")
			assertNoSecrets(t, err, old, kept)
			assert.Equal(t, old.RefreshToken, store.stored(t).RefreshToken, "the store still holds the old token")
			assert.Equal(t, []string{"load", "lock", "load", "save failed", "unlock"}, store.takeOps())
			assert.Equal(t, 1, srv.Stats().Refresh)

			for i := 1; i < failures; i++ {
				_, err := src.Token()
				assert.ErrorIs(t, err, ErrPersist)
				assert.Equal(t, []string{"lock", "load", "save failed", "unlock"}, store.takeOps())
			}

			// The next call saves the kept token first, without refreshing.
			tok, err = src.Token()
			require.NoError(t, err)
			assert.Equal(t, *kept, *tok)
			assert.Nil(t, src.pending)
			assert.Equal(t, []string{"lock", "load", "save", "unlock"}, store.takeOps())
			assert.Equal(t, 1, srv.Stats().Refresh, "no second refresh")
			saved := store.stored(t)
			assert.Equal(t, kept.AccessToken, saved.AccessToken)
			assert.Equal(t, kept.RefreshToken, saved.RefreshToken)

			again, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, *tok, *again)
			assert.Empty(t, store.takeOps())

			// The saved refresh token is the live one.
			psNextExpiry(srv, clock)
			tok3, err := src.Token()
			require.NoError(t, err)
			assertRefreshRequest(t, srv, kept.RefreshToken)
			assert.Equal(t, tok3.AccessToken, store.stored(t).AccessToken)
			assert.Equal(t, 2, srv.Stats().Refresh)
		})
	}
}

// psPending returns a source whose refresh rotated the token of store and
// could not save it: the source holds it, pending, after ErrPersist.
func psPending(t *testing.T) (*ultracarttest.Server, *psStore, *persistentSource, *oauth2.Token) {
	t.Helper()
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	store.saveErrs = []error{errors.New("disk full")}
	src := psSource(context.Background(), psConfig(srv), store, clock)

	_, err := src.Token()
	require.ErrorIs(t, err, ErrPersist)
	require.NotNil(t, src.pending)
	return srv, store, src, old
}

func TestPersistentTokenSourcePersistFailureThenNewGrant(t *testing.T) {
	srv, store, src, _ := psPending(t)

	// Meanwhile the merchant authorized again and the new grant was saved:
	// it wins over the kept token.
	grant := srv.IssueToken("")
	require.NoError(t, store.inner.Save(context.Background(), grant))
	store.takeOps()
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, grant.AccessToken, tok.AccessToken)
	assert.Nil(t, src.pending)
	assert.Equal(t, []string{"lock", "load", "unlock"}, store.takeOps())
	assert.Equal(t, grant.RefreshToken, store.stored(t).RefreshToken)
	assert.Equal(t, 1, srv.Stats().Refresh)
}

// After ErrPersist, a store that was emptied meanwhile (the merchant
// logged out, revoke removed the file) does not get the pending token back.
func TestPersistentTokenSourcePersistFailureThenEmptied(t *testing.T) {
	srv, store, src, old := psPending(t)
	pending := src.pending

	store.loadErr = &noTokenError{where: "the test store"}
	store.takeOps()
	for i := range 2 {
		tok, err := src.Token()
		require.Error(t, err)
		assert.Nil(t, tok)
		assert.ErrorIs(t, err, ErrNoToken)
		assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
		assertNoSecrets(t, err, old, pending)
		wantOps := []string{"load", "lock", "load", "unlock"}
		if i == 0 {
			wantOps = wantOps[1:] // a pending token is always handled under the lock
		}
		assert.Equal(t, wantOps, store.takeOps(), "nothing saved")
		assert.Nil(t, src.pending, "the pending token is dropped")
		if i == 0 {
			assert.Contains(t, err.Error(), "emptied", "the first call says what happened")
		}
	}
	assert.Equal(t, 1, srv.Stats().Refresh)
}

// Invalidate: a rejection of the current token makes the next Token call
// reload and adopt or refresh; a rejection of another token changes
// nothing.
func TestPersistentTokenSourceInvalidate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reject      string // "current", "other", "none"
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
			src := psSource(context.Background(), psConfig(srv), store, clock)
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
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
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

// Many goroutines over one or several sources that share a store, all
// rejected with the same token: one refresh.
func TestPersistentTokenSourceRejectedConcurrently(t *testing.T) {
	for _, sources := range []int{1, 4} {
		t.Run(fmt.Sprintf("sources=%d", sources), func(t *testing.T) {
			srv := psServer(t)
			store := newPSStore(srv.IssueToken(""))
			var clients []*http.Client
			for range sources {
				src := newPersistentSource(context.Background(), psConfig(srv), store, nil)
				clients = append(clients, NewClient(context.Background(), src))
			}
			srv.ExpireAccessTokens()
			const goroutines = 64
			statuses := make([]int, goroutines)
			errs := make([]error, goroutines)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					<-start
					resp, err := clients[i%sources].Get(srv.URL + ultracarttest.ItemsPath)
					if err != nil {
						errs[i] = err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			close(start)
			wg.Wait()
			for i := range goroutines {
				require.NoError(t, errs[i])
				assert.Equal(t, http.StatusOK, statuses[i])
			}
			st := srv.Stats()
			assert.Equal(t, 1, st.Refresh, "one refresh for %d goroutines over %d sources", goroutines, sources)
			t.Logf("%d goroutines over %d sources rejected with one token: %d refresh, %d API calls", goroutines, sources, st.Refresh, st.API)
		})
	}
}

func TestPersistentTokenSourcePersistFailureWithoutRotation(t *testing.T) {
	srv := psServer(t)
	srv.SetOptions(ultracarttest.Options{KeepRefreshTokens: true})
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	store.saveErrs = []error{errors.New("disk full")}
	src := psSource(context.Background(), psConfig(srv), store, clock)

	tok, err := src.Token()
	require.NoError(t, err, "the refresh token did not change: nothing is lost")
	assert.NotEqual(t, old.AccessToken, tok.AccessToken)
	assert.Equal(t, old.RefreshToken, tok.RefreshToken)
	assert.Nil(t, src.pending)
	assert.Equal(t, []string{"load", "lock", "load", "save failed", "unlock"}, store.takeOps())
	assert.Equal(t, old.AccessToken, store.stored(t).AccessToken)

	again, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, *tok, *again)
	assert.Empty(t, store.takeOps())

	// The next refresh saves.
	psNextExpiry(srv, clock)
	tok2, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps())
	assert.Equal(t, tok2.AccessToken, store.stored(t).AccessToken)
	assert.Equal(t, 2, srv.Stats().Refresh)
	assertRefreshRequest(t, srv, old.RefreshToken)
}

func TestPersistentTokenSourceTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      ultracarttest.Fault
		wantStatus int
	}{
		{"503", ultracarttest.Fault{Status: http.StatusServiceUnavailable, Body: "down for maintenance"}, http.StatusServiceUnavailable},
		{"500 envelope", ultracarttest.Fault{Status: http.StatusInternalServerError,
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   `{"error":{"developer_message":"boom","user_message":"try later"},"success":false}`}, http.StatusInternalServerError},
		{"429", ultracarttest.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}}, http.StatusTooManyRequests},
		{"connection reset", ultracarttest.Fault{Reset: true}, 0},
		{"truncated body", ultracarttest.Fault{Truncate: true, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"access_token":"uc-at-`}, http.StatusOK},
		{"hung endpoint", ultracarttest.Fault{Delay: 10 * time.Second}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := psExpired(srv.IssueToken(""), clock.now())
			store := newPSStore(old)
			src := psSource(context.Background(), psConfig(srv), store, clock)
			src.timeout = 300 * time.Millisecond
			f := tc.fault
			f.Times = 1
			srv.Fail(ultracarttest.TokenPath, f)

			start := time.Now()
			tok, err := src.Token()
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second, "the refresh timeout bounds the call")
			assert.Nil(t, tok)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.True(t, e.Temporary(), "%v", err)
			assert.Equal(t, tc.wantStatus, e.StatusCode)
			assert.NotErrorIs(t, err, ErrInvalidGrant)
			assertNoSecrets(t, err, old)
			if tc.name == "429" {
				assert.Equal(t, 7*time.Second, e.RetryAfter)
			}
			assert.Equal(t, []string{"load", "lock", "load", "unlock"}, store.takeOps(), "the store is left untouched")
			assert.Equal(t, old.AccessToken, store.stored(t).AccessToken)

			// Until the pause ends, callers get that error at once; the
			// first call after it tries again, with the same refresh token.
			_, err2 := src.Token()
			assert.Same(t, err, err2)
			assert.Equal(t, 1, srv.Stats().Refresh)
			clock.add(backoffMin)
			tok, err = src.Token()
			require.NoError(t, err)
			assert.Equal(t, 2, srv.Stats().Refresh)
			assertRefreshRequest(t, srv, old.RefreshToken)
			assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
		})
	}
}

func TestPersistentTokenSourceCanceledContext(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	counting := &psSlowTransport{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: counting}))
	cancel()
	src := psSource(ctx, psConfig(srv), store, clock)

	tok, err := src.Token()
	require.NoError(t, err, "a canceled construction context does not break refreshes")
	assert.Equal(t, tok.AccessToken, store.stored(t).AccessToken)
	assert.Equal(t, int32(1), counting.n.Load(), "the context's HTTP client is used")
	assertRefreshRequest(t, srv, old.RefreshToken)

	psNextExpiry(srv, clock)
	_, err = src.Token()
	require.NoError(t, err)
	assert.Equal(t, int32(2), counting.n.Load())
	assert.Equal(t, 2, srv.Stats().Refresh)
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

func TestPersistentTokenSourceZeroEndpointMeansUltraCart(t *testing.T) {
	clock := newPSClock()
	canned := &psCannedTransport{}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: canned})
	store := newPSStore(&oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: clock.now().Add(-time.Minute)})
	src := psSource(ctx, &oauth2.Config{ClientID: psClientID}, store, clock)

	tok, err := src.Token()
	require.NoError(t, err)
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

func TestPersistentTokenSourceNoRefreshToken(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	old.RefreshToken = ""
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock)

	tok, err := src.Token()
	require.Error(t, err)
	assert.Nil(t, tok)
	assert.EqualError(t, err, "ultracart: the stored token has expired and has no refresh token; run the authorization flow again")
	assert.ErrorIs(t, err, ErrInvalidGrant, "the merchant must authorize again")
	assert.Equal(t, ultracarttest.Stats{}, srv.Stats(), "no network call")
	assert.Equal(t, []string{"load", "lock", "load", "unlock"}, store.takeOps())
}

func TestPersistentTokenSourceStoreFailures(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())

	t.Run("load", func(t *testing.T) {
		store := newPSStore(old)
		errIO := errors.New("input/output error")
		store.loadErr = errIO
		src := psSource(context.Background(), psConfig(srv), store, clock)
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
		store := newPSStore(old)
		unlock, err := store.inner.Lock(context.Background())
		require.NoError(t, err)
		src := psSource(context.Background(), psConfig(srv), store, clock)
		src.timeout = 100 * time.Millisecond
		_, err = src.Token()
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.True(t, e.Temporary(), "a lock that timed out is worth a retry")
		assert.EqualError(t, err, "ultracart: waiting for the token store's lock timed out")
		assert.Equal(t, []string{"load", "lock failed"}, store.takeOps())
		unlock()
	})

	t.Run("lock error", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "blocker")
		require.NoError(t, os.WriteFile(blocker, nil, 0o600))
		path := filepath.Join(blocker, "token.json")
		src := psSource(context.Background(), psConfig(srv), NewFileStore(path), clock)
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

func TestPersistentTokenSourceNewClient(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	store := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	require.NoError(t, store.Save(context.Background(), psExpired(srv.IssueToken(""), clock.now())))
	src := psSource(context.Background(), psConfig(srv), store, clock)
	client := NewClient(context.Background(), src)

	for range 3 {
		resp, err := client.Get(srv.URL + ultracarttest.ItemsPath)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	st := srv.Stats()
	assert.Equal(t, 1, st.Refresh)
	assert.Equal(t, 3, st.API)
}

// The helper processes of the multi-process tests. They run when the test
// binary is started again with ULTRACART_PERSIST_HELPER set, as in os/exec's
// own tests.

const psHelperEnv = "ULTRACART_PERSIST_HELPER"

func TestPersistHelperProcess(t *testing.T) {
	mode := os.Getenv(psHelperEnv)
	if mode == "" {
		return // not a helper process
	}
	var err error
	switch mode {
	case "refresh":
		err = psHelperRefresh(os.Getenv("ULTRACART_PERSIST_PATH"), os.Getenv("ULTRACART_PERSIST_URL"))
	case "reject":
		err = psHelperReject(os.Getenv("ULTRACART_PERSIST_PATH"), os.Getenv("ULTRACART_PERSIST_URL"))
	case "save":
		err = psHelperSave(os.Getenv("ULTRACART_PERSIST_PATH"))
	case "lock":
		err = psHelperLock(os.Getenv("ULTRACART_PERSIST_PATH"))
	case "background":
		err = psHelperBackground(os.Getenv("ULTRACART_PERSIST_PATH"), os.Getenv("ULTRACART_PERSIST_URL"))
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// psHelper is a running helper process, talking over stdin and stdout.
type psHelper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
}

func startPSHelper(t *testing.T, mode string, env ...string) *psHelper {
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

// line returns the next line the helper printed.
func (h *psHelper) line(t *testing.T) string {
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

func (h *psHelper) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(h.stdin, line+"\n")
	require.NoError(t, err)
}

// finish closes the helper's stdin and waits for it to succeed.
func (h *psHelper) finish(t *testing.T) {
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

// psHelperRefresh serves rounds: on "round N" from stdin it moves its clock
// N×2h ahead, asks its source for a token from 16 goroutines at once, calls
// the protected resource with it and prints "token HASH STATUS".
func psHelperRefresh(path, baseURL string) error {
	conf := &oauth2.Config{ClientID: psClientID, Endpoint: oauth2.Endpoint{
		TokenURL: baseURL + ultracarttest.TokenPath, AuthStyle: oauth2.AuthStyleInParams,
	}}
	var offset atomic.Int64
	src := newPersistentSource(context.Background(), conf, NewFileStore(path), nil)
	src.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	client := NewClient(context.Background(), src)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "round "))
		if err != nil {
			return err
		}
		offset.Store(int64(time.Duration(n) * 2 * time.Hour))
		toks, errs := psConcurrently([]oauth2.TokenSource{src}, 16)
		for i := range toks {
			if errs[i] != nil {
				return errs[i]
			}
			if toks[i].AccessToken != toks[0].AccessToken {
				return errors.New("the goroutines got different tokens")
			}
		}
		resp, err := client.Get(baseURL + ultracarttest.ItemsPath)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("token %s %d\n", psHash(toks[0].AccessToken), resp.StatusCode)
	}
	return sc.Err()
}

// psHelperReject serves rounds: on "round N" from stdin it calls the
// protected resource from 16 goroutines at once through NewClient, whose
// token the server has rejected since the last round, and prints
// "token HASH STATUS..." with the token its source then holds.
func psHelperReject(path, baseURL string) error {
	conf := &oauth2.Config{ClientID: psClientID, Endpoint: oauth2.Endpoint{
		TokenURL: baseURL + ultracarttest.TokenPath, AuthStyle: oauth2.AuthStyleInParams,
	}}
	src := newPersistentSource(context.Background(), conf, NewFileStore(path), nil)
	client := NewClient(context.Background(), src)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		const goroutines = 16
		statuses := make([]int, goroutines)
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for i := range goroutines {
			wg.Go(func() {
				resp, err := client.Get(baseURL + ultracarttest.ItemsPath)
				if err != nil {
					errs[i] = err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
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
		status := "200"
		for _, s := range statuses {
			if s != http.StatusOK {
				status = strconv.Itoa(s)
			}
		}
		fmt.Printf("token %s %s\n", psHash(tok.AccessToken), status)
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

// startPSHelpers starts n helper processes in mode over one FileStore at
// path, holding the token the server issues now.
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

// Processes whose requests were all rejected with the same token make one
// refresh between them.
func TestPersistentTokenSourceProcessesRecoverRejectedToken(t *testing.T) {
	const processes, rounds, goroutines = 4, 3, 16
	srv := ultracarttest.NewServer()
	defer srv.Close()
	store, helpers := startPSHelpers(t, srv, "reject", processes)
	psRounds(t, srv, store, helpers, rounds, func(int) {
		srv.ExpireAccessTokens() // every process holds a token the API now rejects
	})
	st := srv.Stats()
	assert.Equal(t, rounds, st.Refresh)
	t.Logf("%d processes × %d goroutines, %d rejections of the shared token: %d refreshes, %d API calls", processes, goroutines, rounds, st.Refresh, st.API)
}

func TestPersistentTokenSourceProcessesShareFileStore(t *testing.T) {
	const processes, rounds = 4, 5
	srv := ultracarttest.NewServer()
	defer srv.Close()
	// The token is issued for an hour: expired for the helpers, whose
	// clocks run 2h ahead in the first round.
	store, helpers := startPSHelpers(t, srv, "refresh", processes)
	psRounds(t, srv, store, helpers, rounds, func(n int) {
		// Tokens of round n live until the helpers' clocks pass into round
		// n+1, and no longer.
		srv.SetOptions(ultracarttest.Options{TokenLifetime: time.Duration(n)*2*time.Hour + time.Hour})
		srv.ExpireAccessTokens()
	})
	st := srv.Stats()
	assert.Equal(t, rounds, st.Refresh)
	assert.Equal(t, rounds*processes, st.API)
	t.Logf("%d processes, %d expiries, %d refreshes", processes, rounds, st.Refresh)
}

// The hot path of NewClient's client: the token it reads from the source.
func TestPersistentTokenSourceHotPathAllocatesNothing(t *testing.T) {
	src := PersistentTokenSource(context.Background(), &oauth2.Config{ClientID: psClientID},
		NewMemoryStore(&oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour)}))
	tr := NewClient(context.Background(), src).Transport.(*bearerTransport)
	_, err := tr.token()
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := tr.token(); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs)
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

// Issue 16, point 2: a REST resource that answers 401 to every token. The
// first rejection replaces the token; the replacement, obtained moments
// ago, is not replaced again on a 401 until a pause (1 s, doubling) ends,
// and meanwhile each request fails with its 401 as ErrInvalidToken.
func TestPersistentTokenSourceRejectionStormRefreshesOnce(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	store := newPSStore(srv.IssueToken(""))
	src := psSource(context.Background(), psConfig(srv), store, clock)
	client := NewClient(context.Background(), src)
	srv.Fail(ultracarttest.ItemsPath, ultracarttest.Fault{Status: http.StatusUnauthorized,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   `{"error":{"developer_message":"Permission denied"},"success":false}`})

	for i := range 20 {
		status, err := psGet(t, client, srv)
		assert.ErrorIs(t, err, ErrInvalidToken, "request %d (status %d)", i, status)
	}
	st := srv.Stats()
	t.Logf("20 GETs to an always-401 resource: %d refreshes, %d rotations, %d API requests", st.Refresh, st.Rotations, st.API)
	assert.Equal(t, 1, st.Refresh, "one refresh for 20 rejected requests")
	assert.Equal(t, 21, st.API, "the first request was retried once")

	// Further refreshes on a 401 back off: 1 s, then 2 s.
	for _, step := range []struct {
		wait time.Duration
		want int
	}{
		{time.Second - 1, 1},
		{1, 2},
		{2*time.Second - 1, 2},
		{1, 3},
	} {
		clock.add(step.wait)
		for range 5 {
			_, err := psGet(t, client, srv)
			assert.ErrorIs(t, err, ErrInvalidToken)
		}
		assert.Equal(t, step.want, srv.Stats().Refresh, "after %v more", step.wait)
	}

	// After the pause, a replacement the REST API accepts ends the
	// backoff: the next rejection (say, a revocation) is acted on at once.
	clock.add(4 * time.Second)
	srv.ClearFaults()
	srv.ExpireAccessTokens()
	status, err := psGet(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 4, srv.Stats().Refresh)
	srv.ExpireAccessTokens()
	status, err = psGet(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 5, srv.Stats().Refresh)
}

// Issue 16, point 3: after UltraCart answered invalid_grant, the dead
// refresh token is not presented again; every call gets the same verdict
// until the store holds another grant.
func TestPersistentTokenSourceDeadRefreshTokenPresentedOnce(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	old.RefreshToken = ultracarttest.RefreshTokenPrefix + "revoked0123456789"
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock)
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
	t.Logf("100 requests with a dead refresh token: %d token requests", srv.Stats().Token)
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
// get the last error at once, and the first call after the pause tries
// again.
func TestPersistentTokenSourceDownEndpointAskedOncePerPause(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	src := psSource(context.Background(), psConfig(srv), store, clock)
	client := NewClient(context.Background(), src)
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable})

	check := func(err error) {
		t.Helper()
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.True(t, e.Temporary())
		assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	}
	for range 100 {
		_, err := psGet(t, client, srv)
		check(err)
	}
	t.Logf("100 requests with the token endpoint down: %d token requests", srv.Stats().Token)
	assert.Equal(t, 1, srv.Stats().Token)

	for _, step := range []struct {
		wait time.Duration
		want int
	}{
		{time.Second - 1, 1},
		{1, 2},
		{2*time.Second - 1, 2},
		{1, 3},
		{4*time.Second - 1, 3},
		{1, 4},
	} {
		clock.add(step.wait)
		for range 10 {
			_, err := psGet(t, client, srv)
			check(err)
		}
		assert.Equal(t, step.want, srv.Stats().Token, "after %v more", step.wait)
	}

	// Once the endpoint is back, the first call after the pause succeeds,
	// and a success ends the backoff.
	srv.ClearFaults()
	clock.add(8 * time.Second)
	status, err := psGet(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 5, srv.Stats().Token)
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
