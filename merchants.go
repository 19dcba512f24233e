package ultracart

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// MerchantIdleTimeout is how long [Merchants] keeps the source of a merchant
// that nobody asked for a token: after that it drops the source (and its
// cached token), and builds it again from the store on the next use.
const MerchantIdleTimeout = 10 * time.Minute

// errNoMerchant is the error of a source asked for the empty merchant key.
var errNoMerchant = errors.New("ultracart: Merchants needs a merchant key; the empty key names no merchant")

// Merchants gives the [*http.Client] of each merchant, for an application
// that acts for many merchants: [Merchants.Client](merchant) makes that
// merchant's REST calls. Make it with [NewMerchants]. It keeps one
// [PersistentTokenSource] per merchant, built from store(merchant) the first
// time the merchant is asked for and shared by every caller from then on, so
// callers that ask at once make one refresh. Merchants is safe for
// concurrent use by multiple goroutines.
//
// The store function given to [NewMerchants] must return a store over the
// same storage each time it is called for one merchant (a row of a database
// table, a file per merchant), for instance the For method of pgstore's
// Store. With a store that implements [Locker], several Merchants, in one
// process or in many, make one refresh per expiry between them. The
// function is called with a lock of the Merchants held: it must be quick
// and must not call the Merchants' methods.
//
// The empty merchant key names no merchant: its source fails every Token
// call, and its client every request, with an error.
//
// A source that nobody used for [MerchantIdleTimeout] is dropped, cached
// token and all, and built again from store(merchant) on the next use:
// memory grows with the merchants used in the last MerchantIdleTimeout, not
// with all the merchants ever used. Only a source that holds nothing its
// store lacks is dropped: one that runs a refresh, or keeps a rotated
// refresh token that a failed save left pending ([ErrPersist]), stays until
// the store has that token. Dropped sources are looked for at most
// every quarter of MerchantIdleTimeout, by the calls of
// [Merchants.TokenSource], [Merchants.Client] and the sources' Token
// methods; nothing runs in the background.
type Merchants struct {
	ctx   context.Context
	conf  *oauth2.Config
	store func(merchant string) TokenStore
	opts  MerchantsOptions // IdleTimeout set
	now   func() time.Time

	mu        sync.RWMutex
	entries   map[string]*merchantEntry
	nextSweep atomic.Int64 // UnixNano from which the next call looks for idle sources
}

// merchantEntry is the live source of one merchant.
type merchantEntry struct {
	src    *persistentSource
	handle *merchantSource
	client *http.Client
	used   atomic.Int64 // UnixNano of the last use, within a sixteenth of the idle timeout
}

// NewMerchants returns a [Merchants] whose sources refresh tokens through
// conf and keep them in store(merchant). As with [PersistentTokenSource], a
// zero conf.Endpoint means [Endpoint], and the refreshes run on
// [context.WithoutCancel](ctx); the clients wrap the client under ctx's
// [oauth2.HTTPClient] key, as [NewClient] does.
func NewMerchants(ctx context.Context, conf *oauth2.Config, store func(merchant string) TokenStore) *Merchants {
	return NewMerchantsWithOptions(ctx, conf, store, nil)
}

// MerchantsOptions are the settings of [NewMerchantsWithOptions]. A nil
// *MerchantsOptions is equivalent to a zero MerchantsOptions, which gives
// [NewMerchants]' behaviour.
type MerchantsOptions struct {
	// IdleTimeout is how long a merchant's source is kept while nobody
	// asks for its token. Zero means MerchantIdleTimeout.
	IdleTimeout time.Duration

	// EarlyExpiry and RefreshAhead are those of every merchant's source,
	// as in PersistentOptions.
	EarlyExpiry  time.Duration
	RefreshAhead time.Duration

	// OnRefresh, when set, is called once for each refresh of any
	// merchant's token, with the merchant it concerns, as
	// PersistentOptions.OnRefresh is: a failed background refresh is seen
	// at once, not at the next request.
	OnRefresh func(merchant string, ev RefreshEvent)
}

// NewMerchantsWithOptions is [NewMerchants] with settings; nil opts means
// the defaults.
func NewMerchantsWithOptions(ctx context.Context, conf *oauth2.Config, store func(merchant string) TokenStore, opts *MerchantsOptions) *Merchants {
	if ctx == nil {
		ctx = context.Background()
	}
	m := &Merchants{ctx: ctx, conf: conf, store: store, now: time.Now, entries: make(map[string]*merchantEntry)}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.IdleTimeout <= 0 {
		m.opts.IdleTimeout = MerchantIdleTimeout
	}
	return m
}

// TokenSource returns the token source of merchant. The source stays valid
// after [Merchants] dropped an idle merchant: each Token call uses the
// merchant's current source, so that one merchant never has two.
func (m *Merchants) TokenSource(merchant string) oauth2.TokenSource {
	if merchant == "" {
		return failingSource{errNoMerchant}
	}
	return m.entry(merchant).handle
}

// Client returns the HTTP client of merchant: [NewClient] over its token
// source (see [Merchants.TokenSource]). The same client is returned while the merchant's source lives.
func (m *Merchants) Client(merchant string) *http.Client {
	if merchant == "" {
		return NewClient(m.ctx, failingSource{errNoMerchant})
	}
	return m.entry(merchant).client
}

// entry returns the live entry of merchant, building it when there is none,
// and records the use.
func (m *Merchants) entry(merchant string) *merchantEntry {
	now := m.now().UnixNano()
	m.mu.RLock()
	e := m.entries[merchant]
	if e != nil {
		// Recorded under the read lock, so that a sweep, which takes the
		// write lock, never drops an entry a caller is about to use; and
		// only when the record is stale enough to matter to the sweep, so
		// that the callers of one merchant do not all write one word.
		if now-e.used.Load() > int64(m.opts.IdleTimeout/16) {
			e.used.Store(now)
		}
	}
	m.mu.RUnlock()
	if e == nil {
		e = m.add(merchant, now)
	}
	if now >= m.nextSweep.Load() {
		m.sweep(now)
	}
	return e
}

// add builds the entry of merchant unless another caller just did.
func (m *Merchants) add(merchant string, now int64) *merchantEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[merchant]; e != nil {
		e.used.Store(now)
		return e
	}
	var store TokenStore
	if m.store != nil {
		store = m.store(merchant)
	}
	popts := &PersistentOptions{EarlyExpiry: m.opts.EarlyExpiry, RefreshAhead: m.opts.RefreshAhead}
	if hook := m.opts.OnRefresh; hook != nil {
		popts.OnRefresh = func(ev RefreshEvent) { hook(merchant, ev) }
	}
	e := &merchantEntry{
		src:    newPersistentSource(m.ctx, m.conf, store, popts),
		handle: &merchantSource{m: m, merchant: merchant},
	}
	e.client = NewClient(m.ctx, e.handle)
	e.used.Store(now)
	m.entries[merchant] = e
	return e
}

// sweep drops the entries unused for the idle timeout whose source holds
// nothing its store lacks (see persistentSource.idle). The entries kept go
// to a new map, since a map never shrinks.
func (m *Merchants) sweep(now int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now < m.nextSweep.Load() {
		return // another caller swept meanwhile
	}
	live := make(map[string]*merchantEntry, len(m.entries))
	for k, e := range m.entries {
		if now-e.used.Load() <= int64(m.opts.IdleTimeout) || !e.src.idle() {
			live[k] = e
		}
	}
	m.entries = live
	m.nextSweep.Store(now + int64(m.opts.IdleTimeout/4))
}

// len returns the number of live sources.
func (m *Merchants) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// merchantSource is the token source of one merchant as Merchants hands it
// out: each call goes to the merchant's live source.
type merchantSource struct {
	m        *Merchants
	merchant string
}

func (s *merchantSource) Token() (*oauth2.Token, error) {
	return s.m.entry(s.merchant).src.Token()
}

// sharedToken lets the merchant's client read the token without the copy
// that Token makes (see sharedTokenSource).
func (s *merchantSource) sharedToken() (*oauth2.Token, error) {
	return s.m.entry(s.merchant).src.sharedToken()
}

// Invalidate passes a rejection on to the merchant's live source (see
// [Invalidator]). A source dropped (idle) since the token was handed out has
// nothing to invalidate; the rebuilt one loads the store afresh, and a
// second 401 then reaches it.
func (s *merchantSource) Invalidate(t *oauth2.Token) {
	s.m.entry(s.merchant).src.Invalidate(t)
}

// accepted passes the acceptance of a replacement token on to the
// merchant's live source (see acceptor).
func (s *merchantSource) accepted(t *oauth2.Token) {
	s.m.entry(s.merchant).src.accepted(t)
}

// failingSource is a token source that always fails with err.
type failingSource struct{ err error }

func (s failingSource) Token() (*oauth2.Token, error) { return nil, s.err }
