package ultracart

// Persistent, coordinated tokens.
//
// [golang.org/x/oauth2] never tells its caller that it refreshed a token, so a
// refresh token that UltraCart rotated lives only in the memory of one
// process: it is lost at the next restart, and two processes that share one
// stored token both refresh it, after which one of them holds a dead refresh
// token. [PersistentTokenSource] closes both gaps:
//
//   - every token it gets from UltraCart is saved to its [TokenStore] before it
//     is handed out; when a rotated refresh token cannot be saved, the source
//     keeps it in memory, reports [ErrPersist] and saves it first on the next
//     call, without refreshing again;
//   - refreshes are serialized: within one source, however many goroutines
//     ask at once, one refresh runs and all of them get its outcome; across
//     processes, a store that implements [Locker] ([FileStore] does) is locked
//     around "load, refresh if still needed, save", so a process adopts the
//     token another one saved instead of refreshing it again;
//   - a failed refresh leaves the store as it was; a later call tries
//     again, after a pause when UltraCart failed to answer, and never with
//     a refresh token UltraCart refused;
//   - a token that nears its expiry is refreshed in the background while
//     callers keep using it, so that no request waits for a refresh.
//
// So only the merchant's own revocation (or an expired grant) should ever
// make an application ask the merchant to authorize again.

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Invalidator is implemented by token sources that can replace a token the
// REST API rejected. The sources of [PersistentTokenSource] and
// [Config.TokenSource] implement it, and the clients of [NewClient] and
// [Config.Client] use it: when the REST API answers 401 to a request that
// carried the source's token, they call Invalidate with that token, get a
// token again and retry the request once if its body can be replayed.
//
// Invalidate tells the source that the REST API rejected t. When t's access
// token is the source's current one, the next Token call does not return it
// again: a PersistentTokenSource reloads its store, under the store's lock
// when it is a [Locker], and adopts a different token found there (another
// process refreshed, or a new authorization saved one), or else refreshes
// with the stored refresh token. A rejection of any other token changes
// nothing, so that many callers rejected with the same token make one
// refresh. Invalidate must be safe for concurrent use.
//
// A PersistentTokenSource bounds the refreshes that rejections cause, for a
// REST resource that rejects every token (a permission the merchant
// removed, a proxy, a wrong URL): once it replaced a rejected token, it
// ignores rejections of the replacement, obtained moments ago, until the
// REST API has accepted it (the client's retry succeeded) or a pause has
// passed: 1 s, doubling with each replacement in a row, up to a minute. It
// ignores them likewise during the pause that follows a failed refresh.
// Meanwhile the client's rejected requests fail with their 401, an error
// matching [ErrInvalidToken].
type Invalidator interface {
	Invalidate(t *oauth2.Token)
}

// ErrPersist is matched by the error of a [PersistentTokenSource] that
// refreshed its token but could not save the new, rotated refresh token.
// The source keeps the new token in memory and saves it first on the next
// call, without refreshing again; the error wraps the store's error.
var ErrPersist = errors.New("ultracart: the rotated refresh token could not be saved")

// DefaultExpiryDelta is how long before its Expiry [PersistentTokenSource]
// stops handing out a token: the same early window as [golang.org/x/oauth2].
// Inside it, callers wait for the refresh. [PersistentOptions.EarlyExpiry]
// changes it.
const DefaultExpiryDelta = 10 * time.Second

// DefaultRefreshAhead is how long before its Expiry [PersistentTokenSource]
// starts refreshing a token in the background, while callers keep getting
// the still-valid token. For a token whose lifetime is known (it came with
// an expires_in), the window is at most half that lifetime.
// [PersistentOptions.RefreshAhead] changes it.
const DefaultRefreshAhead = 5 * time.Minute

// PersistentOptions are the settings of [PersistentTokenSourceWithOptions]:
// the early window (EarlyExpiry, [DefaultExpiryDelta] when zero), the
// background refresh window (RefreshAhead, [DefaultRefreshAhead] when zero;
// negative turns background refreshes off) and a hook called after each
// refresh (OnRefresh, with a [RefreshEvent]). A nil *PersistentOptions is
// equivalent to a zero PersistentOptions, which gives
// [PersistentTokenSource]'s behaviour. A negative EarlyExpiry is used as
// given, as in [oauth2.ReuseTokenSourceWithExpiry].
type PersistentOptions struct {
	// EarlyExpiry is how long before its Expiry a token is no longer handed
	// out; from then on callers wait for a refresh. Zero means
	// DefaultExpiryDelta; a negative value is used as given (the token is
	// used for -EarlyExpiry past its Expiry), as in
	// oauth2.ReuseTokenSourceWithExpiry.
	EarlyExpiry time.Duration

	// RefreshAhead is how long before its Expiry a token is refreshed in the
	// background, while Token keeps returning it. Zero means
	// DefaultRefreshAhead; a negative value turns background refreshes off,
	// so that callers wait for every refresh, as with x/oauth2. For a token
	// whose lifetime is known, the window is at most half that lifetime; a
	// window no longer than EarlyExpiry has no effect.
	RefreshAhead time.Duration

	// OnRefresh, when set, is called once for each refresh of the token:
	// one that UltraCart answered, one that failed, the adoption of a
	// token that another process (or source) saved to the store, and the
	// save of a token that an ErrPersist left pending. The first load of
	// the token is not a refresh. It is called on the goroutine that
	// ran the refresh (a background one included) once the store is
	// unlocked and the outcome is published, so it may call Token; calls
	// may overlap, and it must not block for long. The RefreshEvent it gets
	// carries no secret.
	OnRefresh func(RefreshEvent)
}

// RefreshEvent describes one refresh of a [PersistentTokenSource]'s token, for
// metrics and audit logs; [PersistentOptions.OnRefresh] gets one. It carries
// no token and no secret: its Err, as every error of this package, is free
// of them, so the event may be logged as it is. Err's class is told by
// [errors.Is] with [ErrInvalidGrant] (the merchant must authorize again),
// [ErrPersist] (a rotated refresh token waits to be saved) or [ErrNoToken]
// (the store was emptied), and by an [*Error] whose [Error.Temporary]
// reports true (worth the retry that follows).
type RefreshEvent struct {
	// OldExpiry is the Expiry of the token that was replaced, or that
	// failed to be; zero when the expiry is unknown.
	OldExpiry time.Time
	// NewExpiry is the Expiry of the new token; zero when the refresh
	// failed or the expiry is unknown.
	NewExpiry time.Time
	// Rotated reports that the new token came with a new refresh token.
	Rotated bool
	// Adopted reports that the new token was not requested but taken from
	// the store, where another process (or source) had saved it.
	Adopted bool
	// Background reports that the refresh ran ahead of the expiry, while
	// callers kept the old token.
	Background bool
	// Err is why the refresh failed, nil when it did not; RefreshEvent's
	// doc says how to tell its class.
	Err error
}

// PersistentTokenSource returns a TokenSource that loads the token from
// store, refreshes it through conf before it expires, and saves every new
// token to store before handing it out, so that a refresh token UltraCart
// rotated survives a restart. However many goroutines ask, one refresh runs
// at a time, and those that wait get its token or its error; with a store that implements [Locker], such as [FileStore],
// processes that share the store make one refresh per expiry. A zero
// conf.Endpoint means [Endpoint]; the token requests speak UltraCart's
// dialect, and their errors are [*Error] values.
//
// The first call to Token loads the token; with an empty store it fails
// with an error matching [ErrNoToken]. While the token is valid, Token
// returns it without touching the store or the network and without
// waiting. A failed refresh leaves the store untouched, and a later call
// tries again:
//
//   - an error matching [ErrInvalidGrant] means the merchant must authorize
//     the application again. The source remembers UltraCart's verdict on
//     that refresh token: until the store holds another grant (a new
//     authorization), each call reads the store and returns the same error,
//     without presenting the dead refresh token again;
//   - an [*Error] whose [Error.Temporary] method reports true (408, 429, 5xx,
//     a timeout or a connection that broke) is worth a later retry. A
//     failed token request starts a pause of 1 second, doubling with each
//     failure in a row up to a minute: during it, callers that must wait
//     get that error at once, and the first call after it tries again, so
//     that an endpoint that is down is not asked by every request;
//   - an error matching [ErrPersist] means the new refresh token could not
//     be saved: the source keeps it, and the next one saves it first,
//     without a second request. When the refresh token did not change, a
//     failed save loses nothing, and the token is used.
//
// The token is refreshed in the background ahead of its expiry, so that no
// request waits for a refresh: from [DefaultRefreshAhead] (5 minutes) before
// its Expiry, or half its lifetime when that is shorter, the first call to
// Token starts one refresh on a goroutine of its own, and every call
// meanwhile returns the still-valid token at once. Callers wait only when
// the token is inside the early window of [DefaultExpiryDelta] (10 seconds)
// before its Expiry, has expired, or was rejected (see [Invalidator]); they
// then share one refresh, the background one if it is still running.
// [PersistentTokenSourceWithOptions] changes both windows, turns background
// refreshes off, and reports each refresh to a function of the caller's. A
// program that exits right after its requests, such as a command-line tool,
// should turn them off: exiting while a background refresh runs is like
// being killed then, and when UltraCart has already rotated the refresh
// token, the new one is lost.
//
// A failed background refresh is followed by the same pause before the next
// one starts; its error reaches callers only once the token can no longer
// be handed out. No goroutine, timer or connection exists for a source that
// is not refreshing.
//
// Every refresh, in the background or not, first reads the store without
// locking it, and adopts a token that another process saved if it needs no
// refresh. Only otherwise, when store implements Locker, it locks the store,
// reloads the token, adopts one that another process saved in the meantime
// or else refreshes, saves and unlocks.
//
// Refreshes run on [context.WithoutCancel](ctx): they keep ctx's values, such
// as the [oauth2.HTTPClient] client, but not its cancellation, so ctx may be
// a request's context. Each of the three steps of a refresh has a budget of
// its own, 30 s: waiting for the store (its lock and its loads), which may
// time out, but only before the token request is sent; the token request,
// whose answer is awaited for its whole budget however long the wait was;
// and the save of the token it brought. So a token UltraCart sent is never
// thrown away for a deadline spent queueing: that would be a grant lost. A
// refresh takes at most 90 s in all. This holds for every store.
//
// A token whose expiry is unknown (UltraCart sent an empty or unparseable
// expires_in) is used until the REST API rejects it. The source implements
// Invalidator: a rejected token is replaced by the one another process saved,
// or else refreshed, once however many goroutines and processes report it.
//
// The source is safe for concurrent use by multiple goroutines. Each call to
// Token returns a token of the caller's own, so wrappers that write into the
// tokens they get, such as [oauth2.ReuseTokenSource] (and so
// [oauth2.NewClient]), are safe around it; they are not needed, since the
// source caches its token itself. [NewClient] and [Config.Client] use the
// source as it is, and read its cached token without copying it.
func PersistentTokenSource(ctx context.Context, conf *oauth2.Config, store TokenStore) oauth2.TokenSource {
	return newPersistentSource(ctx, conf, store, nil)
}

// PersistentTokenSourceWithOptions is [PersistentTokenSource] with the
// settings of opts (see [PersistentOptions]); a nil opts gives
// PersistentTokenSource. For instance, a
// source that refreshes 10 minutes ahead and logs each refresh (the event
// carries no secret):
//
//	func newSource(ctx context.Context, conf *oauth2.Config, store ultracart.TokenStore) oauth2.TokenSource {
//		return ultracart.PersistentTokenSourceWithOptions(ctx, conf, store, &ultracart.PersistentOptions{
//			RefreshAhead: 10 * time.Minute,
//			OnRefresh: func(e ultracart.RefreshEvent) {
//				log.Printf("token refresh: expiry %v -> %v, rotated %t, adopted %t, background %t, error: %v",
//					e.OldExpiry, e.NewExpiry, e.Rotated, e.Adopted, e.Background, e.Err)
//			},
//		})
//	}
//
// RefreshAhead: -1 makes every caller wait for the refresh instead, as with
// [oauth2.ReuseTokenSource].
func PersistentTokenSourceWithOptions(ctx context.Context, conf *oauth2.Config, store TokenStore, opts *PersistentOptions) oauth2.TokenSource {
	return newPersistentSource(ctx, conf, store, opts)
}

// The machinery of PersistentTokenSource: the cached token, the flights
// that load, adopt or refresh it (in the background or with callers
// waiting), the pause after a failure, and the events they report.

// The pause after a failed refresh (or after a rejected token was replaced)
// is backoffMin, and doubles with each such refresh in a row, up to
// backoffMax.
const (
	backoffMin = time.Second
	backoffMax = time.Minute
)

// stepTimeout bounds each of the three steps of a refresh on its own:
// waiting for the store (its lock and its loads), the token request, and
// the save of the token it got.
const stepTimeout = 30 * time.Second

func newPersistentSource(ctx context.Context, conf *oauth2.Config, store TokenStore, opts *PersistentOptions) *persistentSource {
	if ctx == nil {
		ctx = context.Background()
	}
	var o PersistentOptions
	if opts != nil {
		o = *opts
	}
	if o.EarlyExpiry == 0 {
		o.EarlyExpiry = DefaultExpiryDelta
	}
	if o.RefreshAhead == 0 {
		o.RefreshAhead = DefaultRefreshAhead
	}
	return &persistentSource{
		ctx:       context.WithoutCancel(ctx),
		conf:      conf,
		store:     store,
		early:     o.EarlyExpiry,
		ahead:     o.RefreshAhead,
		onRefresh: o.OnRefresh,
		timeout:   stepTimeout,
		now:       time.Now,
	}
}

// persistentSource is the TokenSource of [PersistentTokenSource].
//
// Its state is guarded by one mutex, held only to read or publish it: the
// slow path runs in a flight, at most one at a time, either on the
// goroutine of a caller that must wait for it or, ahead of the expiry, on a
// goroutine of its own; the callers that must wait for a token meanwhile
// wait for its outcome, and the others never wait.
type persistentSource struct {
	ctx       context.Context // without cancellation
	conf      *oauth2.Config
	store     TokenStore
	early     time.Duration
	ahead     time.Duration // negative: no background refresh
	onRefresh func(RefreshEvent)
	timeout   time.Duration // of each step of a refresh
	now       func() time.Time

	mu       sync.Mutex
	tok      *oauth2.Token // the cached token, nil until the first load; never written into
	rejected bool          // the REST API rejected tok
	flight   *flight       // the flight in progress, if any
	failures int           // refreshes in a row that failed or replaced a rejected token
	retryAt  time.Time     // the end of the pause that follows them
	lastErr  error         // the error of the failed token request that began the pause, if one did
	memo                   // written only by the flight that ends
}

// memo is what a flight leaves to the next one.
type memo struct {
	// pending is a token that replaced a refresh token but could not be
	// saved; it holds the only live refresh token, so it is saved before
	// anything else. pendingBase is the refresh token it replaced.
	pending     *oauth2.Token
	pendingBase string
	// refused is a refresh token UltraCart answered invalid_grant to, and
	// refusal that answer, returned again while the store holds refused.
	refused string
	refusal error
}

// flight is one run of the slow path, shared by the goroutines that wait
// for it: the state it started from, and its outcome once done is closed.
type flight struct {
	prev       *oauth2.Token
	rejected   bool // the REST API rejected prev
	background bool
	memo       memo

	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// times returns when tok turns stale (due for a background refresh) and
// when it is no longer handed out (callers wait for a refresh); a zero time
// means never. As in x/oauth2, a token is still good at the very instant
// its early window begins, and the expiry is read on the wall clock.
func (s *persistentSource) times(tok *oauth2.Token) (stale, end time.Time) {
	if tok.Expiry.IsZero() {
		return // the expiry is unknown: used until the REST API rejects it
	}
	exp := tok.Expiry.Round(0)
	end = exp.Add(-s.early)
	if s.ahead > 0 && tok.RefreshToken != "" { // without a refresh token, only a new authorization helps
		ahead := s.ahead
		if life := time.Duration(tok.ExpiresIn) * time.Second; tok.ExpiresIn > 0 && ahead > life/2 {
			ahead = life / 2
		}
		if st := exp.Add(-ahead); st.Before(end) {
			stale = st
		}
	}
	return stale, end
}

// usable reports whether tok can be handed out at now.
func (s *persistentSource) usable(tok *oauth2.Token, now time.Time) bool {
	_, end := s.times(tok)
	return end.IsZero() || !now.After(end)
}

// stale reports whether tok is due for a background refresh at now.
func (s *persistentSource) stale(tok *oauth2.Token, now time.Time) bool {
	stale, _ := s.times(tok)
	return !stale.IsZero() && now.After(stale)
}

// Token returns a copy of the current token, loading or refreshing it when
// needed. The copy is the caller's: [oauth2.ReuseTokenSource] writes into the
// tokens it gets.
func (s *persistentSource) Token() (*oauth2.Token, error) {
	tok, err := s.sharedToken()
	if err != nil {
		return nil, err
	}
	c := *tok
	return &c, nil
}

// sharedToken is Token without the copy, for the clients of this package,
// which only read the token. The hot path, a usable cached token, allocates
// nothing and never waits for a refresh; inside the refresh-ahead window,
// it starts a background refresh when none runs and no pause holds.
// Otherwise the caller joins the flight in progress, or gets the error that
// began the pause at once, or runs a flight.
func (s *persistentSource) sharedToken() (*oauth2.Token, error) {
	now := s.now()
	s.mu.Lock()
	if tok := s.tok; tok != nil && !s.rejected && s.usable(tok, now) {
		if s.flight == nil && s.stale(tok, now) && !now.Before(s.retryAt) {
			go s.fly(s.startLocked(true))
		}
		s.mu.Unlock()
		return tok, nil
	}
	f := s.flight
	if f == nil && s.lastErr != nil && now.Before(s.retryAt) {
		err := s.lastErr
		s.mu.Unlock()
		return nil, err
	}
	if f == nil {
		f = s.startLocked(false)
		s.mu.Unlock()
		s.fly(f)
		return f.tok, f.err
	}
	s.mu.Unlock()
	<-f.done
	return f.tok, f.err
}

// Invalidate marks the cached token as rejected when t carries its access
// token, unless a pause holds (see [Invalidator] and NewClient).
func (s *persistentSource) Invalidate(t *oauth2.Token) {
	if t == nil || t.AccessToken == "" {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == t.AccessToken && !now.Before(s.retryAt) {
		s.rejected = true
	}
}

// accepted ends the pause that follows the replacement of a rejected
// token, once the REST API accepted tok, the replacement.
func (s *persistentSource) accepted(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == tok.AccessToken && s.lastErr == nil {
		s.failures, s.retryAt = 0, time.Time{}
	}
}

// idle reports whether the source holds nothing its store lacks and runs
// no refresh, so that dropping it loses nothing.
func (s *persistentSource) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flight == nil && s.pending == nil
}

// errFlightPanicked is the outcome of a flight that panicked.
var errFlightPanicked = errors.New("ultracart: the token refresh panicked")

// startLocked registers a new flight; s.mu is held.
func (s *persistentSource) startLocked(background bool) *flight {
	s.flight = &flight{prev: s.tok, rejected: s.rejected, background: background, memo: s.memo, done: make(chan struct{})}
	return s.flight
}

// fly runs flight f, publishes its outcome, wakes its waiters and then
// reports it to [PersistentOptions.OnRefresh]. A panic in a background
// flight fails the flight rather than the program; in a caller's flight it
// reaches the caller, once the flight has ended.
func (s *persistentSource) fly(f *flight) {
	o := outcome{err: errFlightPanicked, attempted: true, memo: f.memo}
	defer func() {
		if f.background {
			recover() // o is still the outcome of a panic, if there was one
		}
		s.land(f, o)
		if s.onRefresh != nil && o.report(f.prev) {
			s.onRefresh(o.event(f))
		}
	}()
	o = s.update(f)
}

// land publishes the outcome o of flight f and ends f.
func (s *persistentSource) land(f *flight, o outcome) {
	now := s.now()
	s.mu.Lock()
	s.memo = o.memo
	if o.tok != nil {
		s.tok, s.rejected = o.tok, false
	}
	switch {
	case o.err != nil && o.attempted && !errors.Is(o.err, ErrInvalidGrant) && !errors.Is(o.err, ErrPersist):
		// A token request failed: until the pause ends, callers that must
		// wait get its error at once, rather than ask again.
		s.pauseLocked(now, o.err)
	case o.err != nil && f.background,
		// A token that replaced a rejected one, or one that is stale
		// already (short-lived tokens, or clocks that disagree), is not
		// replaced again before the pause ends.
		o.err == nil && (f.rejected || f.background && s.stale(o.tok, now)):
		s.pauseLocked(now, nil)
	case o.err == nil:
		s.failures, s.retryAt, s.lastErr = 0, time.Time{}, nil
	}
	s.flight = nil
	s.mu.Unlock()
	f.tok, f.err = o.tok, o.err
	close(f.done)
}

// pauseLocked starts the pause after one more failure in a row; s.mu is
// held.
func (s *persistentSource) pauseLocked(now time.Time, err error) {
	s.failures++
	s.retryAt = now.Add(backoff(s.failures))
	s.lastErr = err
}

// backoff is the pause after the n-th failure in a row.
func backoff(n int) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// outcome is what a flight did.
type outcome struct {
	memo
	tok       *oauth2.Token
	err       error
	attempted bool // a token request was made (or the flight broke off)
	adopted   bool // a token other than the cached one came from the store
	rotated   bool // the new token came with a new refresh token
	saved     bool // the token a failed save left pending is saved now
	known     bool // err is UltraCart's verdict on the stored refresh token, reported before
}

// report reports whether the flight is a refresh to tell
// [PersistentOptions.OnRefresh] about: not the first load of the token,
// unless that had to refresh it, nor a verdict it was told already.
func (o *outcome) report(prev *oauth2.Token) bool {
	return !o.known && (o.attempted || o.saved || (prev != nil && (o.adopted || o.err != nil)))
}

func (o *outcome) event(f *flight) RefreshEvent {
	e := RefreshEvent{Rotated: o.rotated, Adopted: o.adopted, Background: f.background, Err: o.err}
	if f.prev != nil {
		e.OldExpiry = f.prev.Expiry
	}
	if o.tok != nil {
		e.NewExpiry = o.tok.Expiry
	}
	return e
}

// update is the slow path of flight f. It adopts a stored token that needs
// no refresh, read first without the store's lock; otherwise, under the
// lock, it saves a pending token, reloads, adopts or refreshes, and saves.
// A background flight refreshes a token that is stale, a caller's flight
// one that can no longer be handed out.
//
// Waiting for the store (its lock and loads) may time out, but only before
// the token request is sent: the request, and the save of the token it
// brings, each have a budget of their own, since a token UltraCart sent
// and we did not save is a grant thrown away.
func (s *persistentSource) update(f *flight) outcome {
	o := outcome{memo: f.memo}
	fail := func(err error) outcome {
		o.err = err
		return o
	}
	if s.conf == nil {
		return fail(errors.New("ultracart: PersistentTokenSource needs an oauth2.Config"))
	}
	if s.store == nil {
		return fail(errors.New("ultracart: PersistentTokenSource needs a TokenStore"))
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	// rejected is the access token the REST API rejected, if any: it is
	// not handed out again, even when the store still holds it.
	var rejected string
	if f.rejected {
		rejected = f.prev.AccessToken
	}
	now := s.now()
	adoptable := func(tok *oauth2.Token) bool {
		return tok.AccessToken != "" && tok.AccessToken != rejected &&
			s.usable(tok, now) && (!f.background || !s.stale(tok, now))
	}
	adopt := func(tok *oauth2.Token) outcome {
		o.tok, o.adopted = tok, f.prev == nil || tok.AccessToken != f.prev.AccessToken
		return o
	}
	// A refresh token UltraCart refused stays refused: its verdict is
	// returned again, without a token request, until the store holds
	// another grant.
	refused := func(tok *oauth2.Token) bool {
		o.known = o.refused != "" && tok.RefreshToken == o.refused
		return o.known
	}

	l, locker := s.store.(Locker)
	if locker && o.pending == nil {
		// Most flights of a process that shares its store find there the
		// token another process saved: take it without queueing for the
		// lock. Anything else is decided under the lock.
		stored, err := s.store.Load(ctx)
		if err == nil && stored != nil {
			if adoptable(stored) {
				return adopt(stored)
			}
			if refused(stored) {
				return fail(o.refusal)
			}
		}
	}
	if locker {
		unlock, err := l.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// A timeout: worth a retry, like a token request that timed
				// out, so an *Error whose Temporary reports true.
				return fail(&Error{Description: "waiting for the token store's lock timed out", Err: err})
			}
			return fail(chain("waiting for the token store's lock", err))
		}
		defer unlock()
	}

	stored, loadErr := s.store.Load(ctx)
	if o.pending != nil {
		switch {
		case errors.Is(loadErr, ErrNoToken):
			// The store was emptied since (the merchant logged out, the
			// grant was revoked): saving the pending token would bring back
			// a grant the user ended.
			o.pending, o.pendingBase = nil, ""
			return fail(chain("the token store was emptied while a rotated refresh token waited to be saved, so that token was dropped", loadErr))
		case loadErr == nil && stored != nil && stored.RefreshToken != o.pendingBase:
			// Someone saved another grant (a new authorization) since: it
			// wins over the pending token.
			o.pending, o.pendingBase = nil, ""
		default:
			tok := o.pending
			if err := s.store.Save(ctx, tok); err != nil {
				return fail(chain("the rotated refresh token could not be saved", ErrPersist, err))
			}
			o.pending, o.pendingBase = nil, ""
			o.tok, o.rotated, o.saved = tok, true, true
			if adoptable(tok) {
				return o
			}
			o.tok = nil
			stored, loadErr = tok, nil
		}
	}
	if loadErr != nil {
		if errors.Is(loadErr, ErrNoToken) {
			return fail(loadErr)
		}
		return fail(chain("loading the stored token", loadErr))
	}
	if stored == nil {
		return fail(errors.New("ultracart: the token store returned no token and no error"))
	}
	if adoptable(stored) {
		return adopt(stored)
	}
	if refused(stored) {
		return fail(o.refusal)
	}
	o.refused, o.refusal = "", nil
	if stored.RefreshToken == "" {
		if rejected != "" {
			return fail(authorizeAgainError("ultracart: the stored token was rejected and has no refresh token; run the authorization flow again"))
		}
		return fail(authorizeAgainError("ultracart: the stored token has expired and has no refresh token; run the authorization flow again"))
	}

	reqCtx, cancelReq := context.WithTimeout(s.ctx, s.timeout)
	defer cancelReq()
	tok, err := refresh(reqCtx, s.conf, stored.RefreshToken)
	o.attempted = true
	if err != nil {
		if errors.Is(err, ErrInvalidGrant) {
			o.refused, o.refusal = stored.RefreshToken, err
		}
		return fail(err)
	}
	if tok.RefreshToken == "" {
		// Keep the refresh token, without writing into a token that
		// x/oauth2 may still hold.
		t := *tok
		t.RefreshToken = stored.RefreshToken
		tok = &t
	}
	o.rotated = tok.RefreshToken != stored.RefreshToken
	saveCtx, cancelSave := context.WithTimeout(s.ctx, s.timeout)
	defer cancelSave()
	if err := s.store.Save(saveCtx, tok); err != nil && o.rotated {
		o.pending, o.pendingBase = tok, stored.RefreshToken
		return fail(chain("the rotated refresh token could not be saved", ErrPersist, err))
	}
	// A failed save of a token whose refresh token did not change loses
	// nothing: the stored refresh token still works, and the next refresh
	// saves again.
	o.tok = tok
	return o
}

// refresh redeems refreshToken for a new token through conf, in UltraCart's
// dialect. The new token keeps refreshToken when the server sends none.
func refresh(ctx context.Context, conf *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	if conf.Endpoint == (oauth2.Endpoint{}) {
		conf = withEndpoint(conf)
	}
	src := conf.TokenSource(NewContext(ctx), &oauth2.Token{RefreshToken: refreshToken})
	tok, err := src.Token()
	return tok, wrapError(err)
}

// authorizeAgainError is the error of a source whose token can no longer be
// used or refreshed without UltraCart having said invalid_grant (the token
// has no refresh token): it matches [ErrInvalidGrant], so that callers have
// one error to branch on for "ask the merchant to authorize again".
type authorizeAgainError string

func (e authorizeAgainError) Error() string { return string(e) }

func (e authorizeAgainError) Is(target error) bool { return target == ErrInvalidGrant }
