package ultracart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/ultracarttest"
)

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

func newTestMerchants(srv *ultracarttest.Server, stores *mStores, clock *psClock) *Merchants {
	m := NewMerchants(context.Background(), psConfig(srv), stores.store)
	m.now = clock.now
	return m
}

func TestMerchantsOneRefreshPerMerchant(t *testing.T) {
	srv := psServer(t)
	stores := newMStores()
	seeds := map[string]*oauth2.Token{}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		seeds[name] = srv.IssueToken("")
		stores.put(name, psExpired(seeds[name], time.Now()))
	}
	m := newTestMerchants(srv, stores, newPSClock())

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
}

// The empty key names no merchant, and a Merchants without a store
// function has no token: each fails with an error that says so.
func TestMerchantsBadArguments(t *testing.T) {
	srv := psServer(t)
	stores := newMStores()
	stores.put("", srv.IssueToken("")) // a store the empty key must never reach
	m := newTestMerchants(srv, stores, newPSClock())

	_, err := m.TokenSource("").Token()
	assert.EqualError(t, err, "ultracart: Merchants needs a merchant key; the empty key names no merchant")
	_, err = m.Client("").Get(srv.URL + ultracarttest.ItemsPath)
	assert.ErrorContains(t, err, "ultracart: Merchants needs a merchant key")
	assert.Zero(t, stores.callsFor(""), "the empty key never reaches the store function")
	assert.Zero(t, m.len())
	assert.Zero(t, srv.Stats().API, "no request leaves without a merchant")

	_, err = NewMerchants(context.Background(), &oauth2.Config{}, nil).TokenSource("alpha").Token()
	assert.EqualError(t, err, "ultracart: PersistentTokenSource needs a TokenStore")
}

func TestMerchantsDropsIdleSources(t *testing.T) {
	srv := psServer(t)
	stores := newMStores()
	toks := map[string]*oauth2.Token{}
	for i := range 10 {
		name := fmt.Sprint("m", i)
		toks[name] = srv.IssueToken("")
		stores.put(name, toks[name])
	}
	clock := newPSClock()
	m := newTestMerchants(srv, stores, clock)
	for name := range toks {
		_, err := m.TokenSource(name).Token()
		require.NoError(t, err)
	}
	require.Equal(t, 10, m.len())
	held := m.TokenSource("m0") // a caller keeps m0's source
	heldClient := m.Client("m0")
	assert.Same(t, heldClient, m.Client("m0"), "one client per live merchant")

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
	status, err := psGet(t, heldClient, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2, stores.callsFor("m0"))
	assert.Zero(t, srv.Stats().Refresh)
}

func TestMerchantsOptions(t *testing.T) {
	srv := psServer(t)
	stores := newMStores()
	stores.put("a", psExpired(srv.IssueToken("item_read"), time.Now()))
	clock := newPSClock()
	var mu sync.Mutex
	var seen []string
	m := NewMerchantsWithOptions(context.Background(), psConfig(srv), stores.store, &MerchantsOptions{
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
	srv := psServer(t)
	old := srv.IssueToken("")
	stored := newPSStore(psExpired(old, time.Now()))
	stored.saveErrs = []error{errors.New("the database blinked")}
	stores := newMStores()
	stores.put("b", srv.IssueToken(""))
	clock := newPSClock()
	m := NewMerchants(context.Background(), psConfig(srv), func(merchant string) TokenStore {
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

	// Once saved, the source holds nothing the store lacks: it is dropped.
	clock.add(11 * time.Minute)
	m.nextSweep.Store(0)
	_, err = m.TokenSource("b").Token()
	require.NoError(t, err)
	assert.Equal(t, 1, m.len())
}

// BenchmarkMerchants backs the README's figures for Merchants: among 1,000
// live merchants, Client(m) costs a map lookup and no allocation
// (op=Client), and an idle merchant keeps about 0.6 KB of heap (op=idle reports B/merchant:
// its source, client, cached token and map entry, not its store, over
// 10,000 merchants).
func BenchmarkMerchants(b *testing.B) {
	exp := time.Now().Add(24 * time.Hour)
	merchants := func(n int) (*Merchants, []string) {
		stores := make(map[string]TokenStore, n)
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("merchant-%05d", i)
			stores[names[i]] = NewMemoryStore(&oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: exp})
		}
		conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
		return NewMerchants(context.Background(), conf, func(merchant string) TokenStore { return stores[merchant] }), names
	}
	use := func(m *Merchants, merchant string) {
		if _, err := m.TokenSource(merchant).Token(); err != nil { // the first call loads the token
			b.Fatal(err)
		}
		_ = m.Client(merchant)
	}

	m, names := merchants(1000)
	for _, name := range names {
		use(m, name)
	}
	b.Run("op=Client", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if m.Client(names[i%len(names)]) == nil {
				b.Fatal("no client")
			}
			i++
		}
	})

	b.Run("op=idle", func(b *testing.B) {
		liveHeap := func() float64 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return float64(ms.HeapAlloc)
		}
		var total float64
		for i := 0; i < b.N; i++ {
			m, names := merchants(10_000)
			before := liveHeap()
			for _, name := range names {
				use(m, name)
			}
			total += (liveHeap() - before) / float64(len(names))
			runtime.KeepAlive(m)
		}
		b.ReportMetric(total/float64(b.N), "B/merchant")
	})
}
