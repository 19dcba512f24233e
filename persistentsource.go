package ultracart

// The machinery of [PersistentTokenSource]: the cached token the hot path
// reads, the flights that load, adopt or refresh it (in the background or
// with callers waiting), their backoff, and the events they report.

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Backoff of failed background refreshes: the first retry waits
// backoffMin, each further failure doubles the wait, up to backoffMax.
const (
	backoffMin = 2 * time.Second
	backoffMax = time.Minute
)

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
		timeout:   refreshTimeout,
		now:       time.Now,
	}
}

// persistentSource is the TokenSource of [PersistentTokenSource].
//
// Its hot path reads an immutable cached state through an atomic pointer.
// Everything else happens in a flight: at most one runs at a time, either
// on the goroutine of a caller that must wait for it or, ahead of the
// expiry, on a goroutine of its own; the goroutines that must wait for a
// token meanwhile wait for its outcome.
type persistentSource struct {
	ctx       context.Context // without cancellation
	conf      *oauth2.Config
	store     TokenStore
	early     time.Duration
	ahead     time.Duration // negative: no background refresh
	onRefresh func(RefreshEvent)
	timeout   time.Duration
	now       func() time.Time

	state atomic.Pointer[cachedToken] // nil until the first load
	// flying is set while a flight runs, so that the hot path inside the
	// refresh-ahead window does not take mu to find that out.
	flying atomic.Bool
	// failures counts the background refreshes that failed in a row; it is
	// owned by the running flight (flights are serialized by mu).
	failures int32
	// retryAt is the time (Unix nanoseconds) before which no background
	// refresh starts, after one failed.
	retryAt atomic.Int64

	mu     sync.Mutex // guards flight
	flight *flight    // the flight in progress, if any

	// Owned by the running flight.
	//
	// unsaved is a token that replaced a refresh token but could not be
	// saved; it holds the only live refresh token, so it is saved before
	// anything else. unsavedBase is the refresh token it replaced.
	unsaved     *oauth2.Token
	unsavedBase string
}

// cachedToken is a token with the times, in Unix nanoseconds of the wall
// clock, from which it is stale (refreshed in the background) and no longer
// handed out (refreshed while callers wait). It is never modified once
// published, and tok is never handed to a caller that could write into it.
type cachedToken struct {
	tok       *oauth2.Token
	staleAt   int64 // math.MaxInt64: never stale
	refreshAt int64 // math.MaxInt64: never (the expiry is unknown)
	rejected  bool  // the REST API rejected tok: replace it
}

// usable reports whether c holds a token that can be handed out at now. As
// in x/oauth2, a token is still good at the very instant its early window
// begins.
func (c *cachedToken) usable(now int64) bool {
	return c != nil && !c.rejected && now <= c.refreshAt
}

// stale reports whether c's token is due for a background refresh at now;
// the refresh-ahead window begins just after staleAt, as the early window
// does after refreshAt.
func (c *cachedToken) stale(now int64) bool { return now > c.staleAt }

// flight is one run of the slow path, shared by the goroutines that wait
// for it.
type flight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// nanos returns t in Unix nanoseconds, clamped to what an int64 holds.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// nowNanos is the source's clock in Unix nanoseconds.
func (s *persistentSource) nowNanos() int64 { return s.now().UnixNano() }

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
// which only read the token. The hot path, a usable cached token, takes no
// lock and allocates nothing; inside the refresh-ahead window, it starts a
// background refresh when none runs and none failed too recently.
func (s *persistentSource) sharedToken() (*oauth2.Token, error) {
	if c := s.state.Load(); c != nil {
		now := s.nowNanos()
		if c.usable(now) {
			if c.stale(now) && !s.flying.Load() && now >= s.retryAt.Load() {
				s.refreshAhead(c)
			}
			return c.tok, nil
		}
	}
	return s.slowToken()
}

// Invalidate marks the cached token as rejected when t carries its access
// token; see [Invalidator].
func (s *persistentSource) Invalidate(t *oauth2.Token) {
	if t == nil || t.AccessToken == "" {
		return
	}
	for {
		c := s.state.Load()
		if c == nil || c.rejected || c.tok.AccessToken != t.AccessToken {
			return
		}
		r := *c
		r.rejected = true
		if s.state.CompareAndSwap(c, &r) {
			return
		}
	}
}

// slowToken joins the flight in progress or runs one, and waits for it.
func (s *persistentSource) slowToken() (*oauth2.Token, error) {
	s.mu.Lock()
	if c := s.state.Load(); c.usable(s.nowNanos()) {
		s.mu.Unlock()
		return c.tok, nil
	}
	if f := s.flight; f != nil {
		s.mu.Unlock()
		<-f.done
		return f.tok, f.err
	}
	f := s.startLocked()
	s.mu.Unlock()
	s.fly(f, false)
	return f.tok, f.err
}

// refreshAhead starts a background flight, unless one runs or the state
// moved on from c.
func (s *persistentSource) refreshAhead(c *cachedToken) {
	s.mu.Lock()
	if s.flight != nil || s.state.Load() != c {
		s.mu.Unlock()
		return
	}
	f := s.startLocked()
	s.mu.Unlock()
	go s.fly(f, true)
}

// errFlightPanicked is the outcome of a flight that panicked.
var errFlightPanicked = errors.New("ultracart: the token refresh panicked")

// startLocked registers a new flight; s.mu is held.
func (s *persistentSource) startLocked() *flight {
	f := &flight{done: make(chan struct{}), err: errFlightPanicked}
	s.flight = f
	s.flying.Store(true)
	return f
}

// fly runs flight f, publishes its outcome, wakes its waiters and then
// reports it to [PersistentOptions.OnRefresh]. A panic in a background flight fails the flight
// rather than the program; in a caller's flight it reaches the caller.
func (s *persistentSource) fly(f *flight, background bool) {
	prev := s.state.Load()
	var o outcome
	defer func() {
		if background && recover() != nil {
			o = outcome{err: f.err, attempted: true}
		}
		ok := f.err == nil
		if c := s.state.Load(); background && ok && c != nil && c.stale(s.nowNanos()) {
			// The refresh left a token that is stale already (the server
			// gives short-lived tokens, or the clocks disagree): wait as
			// after a failure rather than refresh on every call.
			ok = false
		}
		switch {
		case ok:
			s.failures = 0
			s.retryAt.Store(0)
		case background:
			s.failures++
			s.retryAt.Store(s.nowNanos() + int64(backoff(s.failures)))
		}
		s.mu.Lock()
		s.flight = nil
		s.flying.Store(false)
		s.mu.Unlock()
		close(f.done)
		if s.onRefresh != nil && o.report(prev) {
			s.onRefresh(o.event(prev, background))
		}
	}()
	o = s.update(prev, background)
	f.tok, f.err = o.tok, o.err
}

// backoff is the pause after the n-th background refresh in a row failed.
func backoff(n int32) time.Duration {
	d := backoffMin
	for i := int32(1); i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// outcome is what a flight did.
type outcome struct {
	tok       *oauth2.Token
	err       error
	attempted bool // a token request was made (or the flight broke off)
	adopted   bool // a token other than the cached one came from the store
	rotated   bool // the new token came with a new refresh token
	saved     bool // the token a failed save left pending is saved now
}

// report reports whether the flight is a refresh to tell
// [PersistentOptions.OnRefresh] about: not the first load of the token,
// unless that had to refresh it.
func (o *outcome) report(prev *cachedToken) bool {
	return o.attempted || o.saved || (prev != nil && (o.adopted || o.err != nil))
}

func (o *outcome) event(prev *cachedToken, background bool) RefreshEvent {
	e := RefreshEvent{Rotated: o.rotated, Adopted: o.adopted, Background: background, Err: o.err}
	if prev != nil {
		e.OldExpiry = prev.tok.Expiry
	}
	if o.tok != nil {
		e.NewExpiry = o.tok.Expiry
	}
	return e
}

// cached returns tok with the times from which it is stale and no longer
// handed out.
func (s *persistentSource) cached(tok *oauth2.Token) *cachedToken {
	c := &cachedToken{tok: tok, staleAt: math.MaxInt64, refreshAt: math.MaxInt64}
	if tok.Expiry.IsZero() {
		return c
	}
	exp := tok.Expiry.Round(0)
	c.refreshAt = nanos(exp.Add(-s.early))
	if s.ahead > 0 && tok.RefreshToken != "" { // without a refresh token, only a new authorization helps
		ahead := s.ahead
		if life := time.Duration(tok.ExpiresIn) * time.Second; tok.ExpiresIn > 0 && ahead > life/2 {
			ahead = life / 2
		}
		if stale := nanos(exp.Add(-ahead)); stale < c.refreshAt {
			c.staleAt = stale
		}
	}
	return c
}

// cache publishes tok for the hot path.
func (s *persistentSource) cache(tok *oauth2.Token) { s.state.Store(s.cached(tok)) }

// update is the slow path. It adopts a stored token that needs no refresh,
// read first without the store's lock; otherwise, under the lock, it saves
// a pending token, reloads, adopts or refreshes, and saves. prev is the
// cached state when the flight began; a background flight refreshes a
// token that is stale, a caller's flight one that can no longer be handed
// out.
func (s *persistentSource) update(prev *cachedToken, background bool) outcome {
	if s.conf == nil {
		return outcome{err: errors.New("ultracart: PersistentTokenSource needs an oauth2.Config")}
	}
	if s.store == nil {
		return outcome{err: errors.New("ultracart: PersistentTokenSource needs a TokenStore")}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	// rejected is the access token the REST API rejected, if any: it is
	// not handed out again, even when the store still holds it.
	var rejected string
	if prev != nil && prev.rejected {
		rejected = prev.tok.AccessToken
	}
	now := s.nowNanos()
	adoptable := func(tok *oauth2.Token) bool {
		if tok.AccessToken == "" || tok.AccessToken == rejected {
			return false
		}
		c := s.cached(tok)
		return c.usable(now) && (!background || !c.stale(now))
	}
	adopt := func(tok *oauth2.Token) outcome {
		s.cache(tok)
		return outcome{tok: tok, adopted: prev == nil || tok.AccessToken != prev.tok.AccessToken}
	}

	l, locker := s.store.(Locker)
	if locker && s.unsaved == nil {
		// Most flights of a process that shares its store find there the
		// token another process saved: take it without queueing for the
		// lock. Anything else is decided under the lock.
		stored, err := s.store.Load(ctx)
		if err == nil && stored != nil && adoptable(stored) {
			return adopt(stored)
		}
	}
	if locker {
		unlock, err := l.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// A timeout: worth a retry, like a token request that timed
				// out, so an *Error whose Temporary reports true.
				return outcome{err: &Error{Description: "waiting for the token store's lock timed out", Err: err}}
			}
			return outcome{err: chain("waiting for the token store's lock", err)}
		}
		defer unlock()
	}

	stored, loadErr := s.store.Load(ctx)
	pendingSaved := false // the token a failed save left pending is saved now
	if s.unsaved != nil {
		switch {
		case errors.Is(loadErr, ErrNoToken):
			// The store was emptied since (the merchant logged out, the
			// grant was revoked): saving the pending token would bring back
			// a grant the user ended.
			s.unsaved, s.unsavedBase = nil, ""
			return outcome{err: chain("the token store was emptied while a rotated refresh token waited to be saved, so that token was dropped", loadErr)}
		case loadErr == nil && stored != nil && stored.RefreshToken != s.unsavedBase:
			// Someone saved another grant (a new authorization) since: it
			// wins over the pending token.
			s.unsaved, s.unsavedBase = nil, ""
		default:
			tok := s.unsaved
			if err := s.store.Save(ctx, tok); err != nil {
				return outcome{err: chain("the rotated refresh token could not be saved", ErrPersist, err)}
			}
			s.unsaved, s.unsavedBase = nil, ""
			stored, loadErr, pendingSaved = tok, nil, true
		}
	}
	if loadErr != nil {
		if errors.Is(loadErr, ErrNoToken) {
			return outcome{err: loadErr}
		}
		return outcome{err: chain("loading the stored token", loadErr)}
	}
	if stored == nil {
		return outcome{err: errors.New("ultracart: the token store returned no token and no error")}
	}
	if adoptable(stored) {
		if pendingSaved {
			s.cache(stored)
			return outcome{tok: stored, rotated: true, saved: true}
		}
		return adopt(stored)
	}
	if stored.RefreshToken == "" {
		if rejected != "" {
			return outcome{err: authorizeAgainError("ultracart: the stored token was rejected and has no refresh token; run the authorization flow again")}
		}
		return outcome{err: authorizeAgainError("ultracart: the stored token has expired and has no refresh token; run the authorization flow again")}
	}

	tok, err := refresh(ctx, s.conf, stored.RefreshToken)
	if err != nil {
		return outcome{err: err, attempted: true}
	}
	if tok.RefreshToken == "" {
		// Keep the refresh token, without writing into a token that
		// x/oauth2 may still hold.
		t := *tok
		t.RefreshToken = stored.RefreshToken
		tok = &t
	}
	rotated := tok.RefreshToken != stored.RefreshToken
	if err := s.store.Save(ctx, tok); err != nil {
		if rotated {
			s.unsaved, s.unsavedBase = tok, stored.RefreshToken
			return outcome{err: chain("the rotated refresh token could not be saved", ErrPersist, err), attempted: true, rotated: true}
		}
		// The stored refresh token still works: nothing is lost, and the
		// next refresh saves again.
	}
	s.cache(tok)
	return outcome{tok: tok, attempted: true, rotated: rotated}
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
