package ultracart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/ultracarttest"
)

// mClock is the injected clock of Merchants' idle sweep.
type mClock struct{ ns atomic.Int64 }

func newMClock() *mClock {
	c := &mClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *mClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *mClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// mStores is a store function over one MemoryStore per merchant, which
// counts its calls per merchant.
type mStores struct {
	mu     sync.Mutex
	stores map[string]*MemoryStore
	calls  map[string]int
}

func newMStores() *mStores {
	return &mStores{stores: map[string]*MemoryStore{}, calls: map[string]int{}}
}

func (s *mStores) put(merchant string, t *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stores[merchant] = NewMemoryStore(t)
}

func (s *mStores) store(merchant string) TokenStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[merchant]++
	st := s.stores[merchant]
	if st == nil {
		st = &MemoryStore{}
		s.stores[merchant] = st
	}
	return st
}

func (s *mStores) callsFor(merchant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[merchant]
}

func newTestMerchants(srv *ultracarttest.Server, stores *mStores, clock *mClock) *Merchants {
	conf := &oauth2.Config{ClientID: "merchants-test", Endpoint: srv.Endpoint()}
	m := NewMerchants(context.Background(), conf, stores.store)
	m.now = clock.now
	return m
}

func expiredCopy(t *oauth2.Token) *oauth2.Token {
	c := *t
	c.Expiry = time.Now().Add(-time.Hour)
	return &c
}

func TestMerchantsOneRefreshPerMerchant(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	stores := newMStores()
	seeds := map[string]*oauth2.Token{}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		seeds[name] = srv.IssueToken("")
		stores.put(name, expiredCopy(seeds[name]))
	}
	m := newTestMerchants(srv, stores, newMClock())

	const callers = 20
	var wg sync.WaitGroup
	got := make(map[string][]string)
	var mu sync.Mutex
	for name := range seeds {
		for range callers {
			wg.Go(func() {
				tok, err := m.TokenSource(name).Token()
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				got[name] = append(got[name], tok.AccessToken)
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	assert.Equal(t, len(seeds), srv.Stats().Refresh, "one refresh per merchant")
	seen := map[string]bool{}
	for name, toks := range got {
		require.Len(t, toks, callers)
		for _, at := range toks {
			assert.Equal(t, toks[0], at, "%s: every caller gets the token of the one refresh", name)
		}
		assert.NotEqual(t, seeds[name].AccessToken, toks[0])
		assert.False(t, seen[toks[0]], "merchants share no token")
		seen[toks[0]] = true
		saved, err := stores.stores[name].Load(context.Background())
		require.NoError(t, err)
		assert.Equal(t, toks[0], saved.AccessToken, "%s: the new token is in the merchant's store", name)
		assert.Equal(t, 1, stores.callsFor(name), "%s: one source, built once", name)
	}
	// Every refresh sent the refresh token of its own merchant.
	var sent []string
	for _, r := range srv.Requests() {
		if r.Path == ultracarttest.TokenPath {
			sent = append(sent, r.Form.Get("refresh_token"))
		}
	}
	want := []string{}
	for _, s := range seeds {
		want = append(want, s.RefreshToken)
	}
	assert.ElementsMatch(t, want, sent)
}

func TestMerchantsClient(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	stores := newMStores()
	tok := srv.IssueToken("")
	stores.put("alpha", tok)
	m := newTestMerchants(srv, stores, newMClock())

	c := m.Client("alpha")
	assert.Same(t, c, m.Client("alpha"), "one client per live merchant")
	resp, err := c.Get(srv.URL + ultracarttest.ItemsPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	req, ok := srv.LastRequest(ultracarttest.ItemsPath)
	require.True(t, ok)
	assert.Equal(t, "Bearer "+tok.AccessToken, req.Header.Get("Authorization"))
	assert.Equal(t, APIVersion, req.Header.Get(APIVersionHeader))
	assert.Zero(t, srv.Stats().Refresh)
}

func TestMerchantsEmptyKey(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	stores := newMStores()
	stores.put("", srv.IssueToken("")) // a store the empty key must never reach
	m := newTestMerchants(srv, stores, newMClock())

	_, err := m.TokenSource("").Token()
	require.Error(t, err)
	assert.Equal(t, "ultracart: Merchants needs a merchant key; the empty key names no merchant", err.Error())

	_, err = m.Client("").Get(srv.URL + ultracarttest.ItemsPath)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ultracart: Merchants needs a merchant key")

	assert.Zero(t, stores.callsFor(""), "the empty key never reaches the store function")
	assert.Zero(t, m.len())
	assert.Zero(t, srv.Stats().API, "no request leaves without a merchant")
}

func TestMerchantsNoStoreFunc(t *testing.T) {
	m := NewMerchants(context.Background(), &oauth2.Config{}, nil)
	_, err := m.TokenSource("alpha").Token()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ultracart: PersistentTokenSource needs a TokenStore")
}

func TestMerchantsDropsIdleSources(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	stores := newMStores()
	toks := map[string]*oauth2.Token{}
	for i := range 10 {
		name := fmt.Sprint("m", i)
		toks[name] = srv.IssueToken("")
		stores.put(name, toks[name])
	}
	clock := newMClock()
	m := newTestMerchants(srv, stores, clock)
	for name := range toks {
		_, err := m.TokenSource(name).Token()
		require.NoError(t, err)
	}
	require.Equal(t, 10, m.len())
	held := m.TokenSource("m0") // a caller keeps m0's source
	heldClient := m.Client("m0")

	// The sweep drops what idled longer than the timeout; the call that
	// sweeps records its own use first. m1 keeps being used.
	clock.add(MerchantIdleTimeout)
	m.nextSweep.Store(0) // sweep on the next call, whatever the interval
	_, err := m.TokenSource("m1").Token()
	require.NoError(t, err)
	assert.Equal(t, 10, m.len(), "idle exactly the timeout: kept")

	clock.add(time.Nanosecond)
	m.nextSweep.Store(0)
	_, err = m.TokenSource("m1").Token()
	require.NoError(t, err)
	assert.Equal(t, 1, m.len(), "idle a nanosecond longer: dropped")

	// A dropped merchant's source is built again from its store: the same
	// token, without a refresh.
	tok, err := held.Token()
	require.NoError(t, err)
	assert.Equal(t, toks["m0"].AccessToken, tok.AccessToken)
	assert.Equal(t, 2, stores.callsFor("m0"), "rebuilt from the store")
	assert.Equal(t, 2, m.len())
	assert.NotSame(t, heldClient, m.Client("m0"), "a new client with the new source")
	tok, err = m.TokenSource("m0").Token()
	require.NoError(t, err)
	assert.Equal(t, toks["m0"].AccessToken, tok.AccessToken)
	assert.Equal(t, 2, stores.callsFor("m0"), "the held source and the new one are one source")
	// The old client still works, through the merchant's current source.
	resp, err := heldClient.Get(srv.URL + ultracarttest.ItemsPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, stores.callsFor("m0"))
	assert.Zero(t, srv.Stats().Refresh)
}

// TestMerchantsMemory measures the heap that idle merchants keep, with
// 10,000 merchants used once each, and checks that the idle sweep gives it
// back. Run with -v for the figure.
func TestMerchantsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 10,000 merchants")
	}
	const n = 10_000
	stores := make([]TokenStore, n)
	names := make([]string, n)
	exp := time.Now().Add(time.Hour)
	for i := range stores {
		names[i] = fmt.Sprintf("merchant-%05d", i)
		stores[i] = NewMemoryStore(&oauth2.Token{AccessToken: "at", RefreshToken: "rt", Expiry: exp})
	}
	index := make(map[string]int, n)
	for i, name := range names {
		index[name] = i
	}
	clock := newMClock()
	m := NewMerchants(context.Background(), &oauth2.Config{}, func(merchant string) TokenStore { return stores[index[merchant]] })
	m.now = clock.now

	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for _, name := range names {
		_, err := m.TokenSource(name).Token()
		require.NoError(t, err)
		_ = m.Client(name)
	}
	require.Equal(t, n, m.len())
	during := heap()
	perMerchant := (float64(during) - float64(before)) / n
	t.Logf("heap per idle merchant (source, client, cached token, map entry; not the store): %.0f bytes with %d merchants", perMerchant, n)
	assert.Less(t, perMerchant, 4096.0, "bytes per idle merchant")

	clock.add(MerchantIdleTimeout + time.Second)
	m.nextSweep.Store(0)
	_, err := m.TokenSource(names[0]).Token()
	require.NoError(t, err)
	assert.Equal(t, 1, m.len(), "idle merchants are dropped")
	after := heap()
	t.Logf("heap after the idle sweep: %+d bytes against before the merchants", int64(after)-int64(before))
	assert.Less(t, float64(after)-float64(before), (float64(during)-float64(before))/2, "the sweep gives the memory back")
	runtime.KeepAlive(stores)
}

func TestMerchantsOptions(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	stores := newMStores()
	stores.put("a", expiredCopy(srv.IssueToken("item_read")))
	clock := newMClock()
	var mu sync.Mutex
	var seen []string
	conf := &oauth2.Config{ClientID: "merchants-test", Endpoint: srv.Endpoint()}
	m := NewMerchantsWithOptions(context.Background(), conf, stores.store, &MerchantsOptions{
		IdleTimeout:  time.Minute,
		RefreshAhead: -1,
		OnRefresh: func(merchant string, ev RefreshEvent) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s rotated=%v err=%v", merchant, ev.Rotated, ev.Err))
		},
	})
	m.now = clock.now
	_, err := m.TokenSource("a").Token()
	require.NoError(t, err)
	mu.Lock()
	assert.Equal(t, []string{"a rotated=true err=<nil>"}, seen, "the hook names the merchant")
	mu.Unlock()

	clock.add(2 * time.Minute)
	_, err = m.TokenSource("b").Token() // sweeps "a", idle for longer than IdleTimeout
	require.ErrorIs(t, err, ErrNoToken)
	assert.Equal(t, 1, m.len(), "a was dropped after IdleTimeout, not MerchantIdleTimeout")
}

// Issue 16, point 1: the idle sweep never drops a source that holds the
// only copy of a rotated refresh token (a token a failed save left
// pending); the merchant's next call saves it and goes on with it.
func TestMerchantsIdleSweepKeepsPendingToken(t *testing.T) {
	srv := ultracarttest.NewServer()
	defer srv.Close()
	old := srv.IssueToken("")
	stored := newPSStore(expiredCopy(old))
	stored.saveErrs = []error{errors.New("the database blinked")}
	stores := newMStores()
	stores.put("b", srv.IssueToken(""))
	clock := newMClock()
	conf := &oauth2.Config{ClientID: "merchants-test", Endpoint: srv.Endpoint()}
	m := NewMerchants(context.Background(), conf, func(merchant string) TokenStore {
		if merchant == "a" {
			return stored
		}
		return stores.store(merchant)
	})
	m.now = clock.now

	_, err := m.TokenSource("a").Token()
	require.ErrorIs(t, err, ErrPersist)
	require.Equal(t, 1, srv.Stats().Rotations)
	clock.add(11 * time.Minute)
	_, err = m.TokenSource("b").Token() // sweeps
	require.NoError(t, err)

	tok, err := m.TokenSource("a").Token()
	require.NoError(t, err, "the merchant must not authorize again")
	assert.Equal(t, tok.RefreshToken, stored.stored(t).RefreshToken, "the pending token is saved")
	assert.NotEqual(t, old.RefreshToken, tok.RefreshToken)
	assert.Equal(t, 1, srv.Stats().Refresh, "no second refresh")
	assert.Zero(t, srv.Stats().InvalidGrant)

	// Once saved, the source holds nothing the store lacks: it is dropped.
	clock.add(11 * time.Minute)
	m.nextSweep.Store(0)
	_, err = m.TokenSource("b").Token()
	require.NoError(t, err)
	assert.Equal(t, 1, m.len())
}
