package ultracart

// Persistent, coordinated tokens.
//
// golang.org/x/oauth2 never tells its caller that it refreshed a token, so a
// refresh token that UltraCart rotated lives only in the memory of one
// process: it is lost at the next restart, and two processes that share one
// stored token both refresh it, after which one of them holds a dead refresh
// token. PersistentTokenSource closes both gaps:
//
//   - every token it gets from UltraCart is saved to its TokenStore before it
//     is handed out; when a rotated refresh token cannot be saved, the source
//     keeps it in memory, reports ErrPersist and saves it first on the next
//     call, without refreshing again;
//   - refreshes are serialized: within one source, however many goroutines
//     ask at once, one refresh runs and all of them get its outcome; across
//     processes, a store that implements Locker (FileStore does) is locked
//     around "load, refresh if still needed, save", so a process adopts the
//     token another one saved instead of refreshing it again;
//   - a failed refresh leaves the store as it was, and the next call tries
//     again.
//
// So only the merchant's own revocation (or an expired grant) should ever
// make an application ask the merchant to authorize again.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// TokenStore keeps one token between runs of a program, for instance the
// token of one merchant. Load returns an error matching ErrNoToken when the
// store holds no token. Implementations must be safe for concurrent use;
// their errors must not contain the token's secrets.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, t *oauth2.Token) error
}

// Locker is implemented by stores that can serialize refreshes across the
// processes (or goroutines) that share them. Lock blocks until the caller
// holds the lock or ctx is done; the caller calls unlock once it is done.
// PersistentTokenSource holds the lock while it reloads the token, refreshes
// it when still needed and saves the new one.
type Locker interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

// Invalidator is implemented by token sources that can replace a token the
// REST API rejected. The sources of PersistentTokenSource and
// Config.TokenSource implement it, and the clients of NewClient and
// Config.Client use it: when the REST API answers 401 to a request that
// carried the source's token, they call Invalidate with that token, get a
// token again and retry the request once if its body can be replayed.
//
// Invalidate tells the source that the REST API rejected t. When t's access
// token is the source's current one, the next Token call does not return it
// again: a PersistentTokenSource reloads its store, under the store's lock
// when it is a Locker, and adopts a different token found there (another
// process refreshed, or a new authorization saved one), or else refreshes
// with the stored refresh token. A rejection of any other token changes
// nothing, so that many callers rejected with the same token make one
// refresh. Invalidate must be safe for concurrent use.
type Invalidator interface {
	Invalidate(t *oauth2.Token)
}

var (
	// ErrNoToken is matched by the error of a TokenStore that holds no token,
	// and so by the error of a PersistentTokenSource over it: the merchant
	// has not authorized the application yet.
	ErrNoToken = errors.New("ultracart: no token stored; run the authorization flow first")

	// ErrPersist is matched by the error of a PersistentTokenSource that
	// refreshed its token but could not save the new, rotated refresh token.
	// The source keeps the new token in memory and saves it first on the next
	// call, without refreshing again; the error wraps the store's error.
	ErrPersist = errors.New("ultracart: the rotated refresh token could not be saved")
)

// DefaultExpiryDelta is how long before its Expiry PersistentTokenSource
// refreshes a token: the same early window as golang.org/x/oauth2.
const DefaultExpiryDelta = 10 * time.Second

// refreshTimeout bounds one refresh: waiting for the store's lock, loading,
// the token request and saving.
const refreshTimeout = 30 * time.Second

// PersistentTokenSource returns a TokenSource that loads the token from
// store, refreshes it through conf when it expires (or is about to, see
// DefaultExpiryDelta), and saves every new token to store before handing it
// out. A zero conf.Endpoint means Endpoint; the token requests speak
// UltraCart's dialect, and their errors are *Error values.
//
// The first call to Token loads the token; with an empty store it fails
// with an error matching ErrNoToken. While the token is valid, Token returns
// it without touching the store or the network and without allocating. When
// it must be refreshed:
//
//   - one refresh runs, however many goroutines ask at once, and all of them
//     get its token or its error;
//   - when store implements Locker, the source locks it, reloads the token and
//     adopts one that another process saved in the meantime, refreshing only
//     when that token too needs it; then it saves and unlocks, so processes
//     that share a store make one refresh per expiry;
//   - an error matching ErrInvalidGrant means the merchant must authorize the
//     application again; an *Error whose Temporary method reports true (5xx,
//     429, timeout, reset connection) is worth a later retry; either way the
//     store is left untouched and the next call tries again;
//   - when the new refresh token cannot be saved, Token fails with an error
//     matching ErrPersist and saves it first on the next call, without a
//     second refresh; when the refresh token did not change, a failed save
//     loses nothing, and the token is returned.
//
// Refreshes run on context.WithoutCancel(ctx): they keep ctx's values, such
// as the oauth2.HTTPClient client, but not its cancellation, so ctx may be a
// request's context. Each refresh, lock wait included, takes at most 30 s.
//
// A token whose expiry is unknown (UltraCart sent an empty or unparseable
// expires_in) is used until the REST API rejects it. The source implements
// Invalidator: a rejected token is replaced by the one another process saved,
// or else refreshed, once however many goroutines and processes report it.
//
// The source is safe for concurrent use by multiple goroutines. Each call to
// Token returns a token of the caller's own, so wrappers that write into the
// tokens they get, such as oauth2.ReuseTokenSource (and so oauth2.NewClient),
// are safe around it; they are not needed, since the source caches its token
// itself. NewClient and Config.Client use the source as it is, and read its
// cached token without copying it.
func PersistentTokenSource(ctx context.Context, conf *oauth2.Config, store TokenStore) oauth2.TokenSource {
	return newPersistentSource(ctx, conf, store, DefaultExpiryDelta)
}

// PersistentTokenSourceWithExpiry is PersistentTokenSource with another early
// window: the token is refreshed earlyExpiry before its Expiry. As in
// oauth2.ReuseTokenSourceWithExpiry, a zero earlyExpiry means
// DefaultExpiryDelta and a negative one is used as given: the token is then
// used for -earlyExpiry past its Expiry.
func PersistentTokenSourceWithExpiry(ctx context.Context, conf *oauth2.Config, store TokenStore, earlyExpiry time.Duration) oauth2.TokenSource {
	if earlyExpiry == 0 {
		earlyExpiry = DefaultExpiryDelta
	}
	return newPersistentSource(ctx, conf, store, earlyExpiry)
}

func newPersistentSource(ctx context.Context, conf *oauth2.Config, store TokenStore, early time.Duration) *persistentSource {
	if ctx == nil {
		ctx = context.Background()
	}
	return &persistentSource{
		ctx:     context.WithoutCancel(ctx),
		conf:    conf,
		store:   store,
		early:   early,
		timeout: refreshTimeout,
		now:     time.Now,
	}
}

// persistentSource is the TokenSource of PersistentTokenSource.
//
// Its hot path reads an immutable cached state through an atomic pointer.
// Everything else happens in a flight: at most one runs at a time, and the
// goroutines that ask for a token meanwhile wait for its outcome.
type persistentSource struct {
	ctx     context.Context // without cancellation
	conf    *oauth2.Config
	store   TokenStore
	early   time.Duration
	timeout time.Duration
	now     func() time.Time

	state atomic.Pointer[cachedToken] // nil until the first load

	mu     sync.Mutex // guards flight
	flight *flight    // the refresh in progress, if any

	// Owned by the running flight (flights are serialized by mu).
	//
	// unsaved is a token that replaced a refresh token but could not be
	// saved; it holds the only live refresh token, so it is saved before
	// anything else. unsavedBase is the refresh token it replaced.
	unsaved     *oauth2.Token
	unsavedBase string
}

// cachedToken is a token with the wall-clock time from which it must be
// refreshed. It is never modified once published, and tok is never handed
// to a caller that could write into it.
type cachedToken struct {
	tok       *oauth2.Token
	refreshAt time.Time // zero: never (the expiry is unknown)
	rejected  bool      // the REST API rejected tok: replace it
}

// fresh reports whether c holds a token that needs no refresh at now. As in
// x/oauth2, a token is still good at the very instant its early window
// begins.
func (c *cachedToken) fresh(now time.Time) bool {
	return c != nil && !c.rejected && (c.refreshAt.IsZero() || !c.refreshAt.Before(now))
}

// flight is one run of the slow path, shared by the goroutines that wait
// for it.
type flight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// Token returns a copy of the current token, loading or refreshing it when
// needed. The copy is the caller's: oauth2.ReuseTokenSource writes into the
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
// which only read the token: the hot path, a valid cached token, takes no
// lock and allocates nothing.
func (s *persistentSource) sharedToken() (*oauth2.Token, error) {
	if c := s.state.Load(); c.fresh(s.now()) {
		return c.tok, nil
	}
	return s.slowToken()
}

// Invalidate marks the cached token as rejected when t carries its access
// token; see Invalidator.
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

// slowToken joins the flight in progress or starts one.
func (s *persistentSource) slowToken() (*oauth2.Token, error) {
	s.mu.Lock()
	if c := s.state.Load(); c.fresh(s.now()) {
		s.mu.Unlock()
		return c.tok, nil
	}
	if f := s.flight; f != nil {
		s.mu.Unlock()
		<-f.done
		return f.tok, f.err
	}
	f := &flight{done: make(chan struct{}), err: errors.New("ultracart: the token refresh panicked")}
	s.flight = f
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.flight = nil
		s.mu.Unlock()
		close(f.done)
	}()
	f.tok, f.err = s.update()
	return f.tok, f.err
}

// cached returns tok with the time from which it must be refreshed.
func (s *persistentSource) cached(tok *oauth2.Token) *cachedToken {
	c := &cachedToken{tok: tok}
	if !tok.Expiry.IsZero() {
		c.refreshAt = tok.Expiry.Round(0).Add(-s.early)
	}
	return c
}

// cache publishes tok for the hot path.
func (s *persistentSource) cache(tok *oauth2.Token) { s.state.Store(s.cached(tok)) }

// fresh reports whether tok can be handed out without a refresh.
func (s *persistentSource) fresh(tok *oauth2.Token) bool {
	return tok.AccessToken != "" && s.cached(tok).fresh(s.now())
}

// update is the slow path: under the store's lock, save a pending token,
// reload, adopt or refresh, save.
func (s *persistentSource) update() (*oauth2.Token, error) {
	if s.conf == nil {
		return nil, errors.New("ultracart: PersistentTokenSource needs an oauth2.Config")
	}
	if s.store == nil {
		return nil, errors.New("ultracart: PersistentTokenSource needs a TokenStore")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	// rejected is the access token the REST API rejected, if any: it is
	// not handed out again, even when the store still holds it.
	var rejected string
	if c := s.state.Load(); c != nil && c.rejected {
		rejected = c.tok.AccessToken
	}

	if l, ok := s.store.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// A timeout: worth a retry, like a token request that timed
				// out, so an *Error whose Temporary reports true.
				return nil, &Error{Description: "waiting for the token store's lock timed out", Err: err}
			}
			return nil, chain("waiting for the token store's lock", err)
		}
		defer unlock()
	}

	stored, loadErr := s.store.Load(ctx)
	if s.unsaved != nil {
		switch {
		case errors.Is(loadErr, ErrNoToken):
			// The store was emptied since (the merchant logged out, the
			// grant was revoked): saving the pending token would bring back
			// a grant the user ended.
			s.unsaved, s.unsavedBase = nil, ""
			return nil, chain("the token store was emptied while a rotated refresh token waited to be saved, so that token was dropped", loadErr)
		case loadErr == nil && stored != nil && stored.RefreshToken != s.unsavedBase:
			// Someone saved another grant (a new authorization) since: it
			// wins over the pending token.
			s.unsaved, s.unsavedBase = nil, ""
		default:
			tok := s.unsaved
			if err := s.store.Save(ctx, tok); err != nil {
				return nil, chain("the rotated refresh token could not be saved", ErrPersist, err)
			}
			s.unsaved, s.unsavedBase = nil, ""
			stored, loadErr = tok, nil
		}
	}
	if loadErr != nil {
		if errors.Is(loadErr, ErrNoToken) {
			return nil, loadErr
		}
		return nil, chain("loading the stored token", loadErr)
	}
	if stored == nil {
		return nil, errors.New("ultracart: the token store returned no token and no error")
	}
	if stored.AccessToken != rejected && s.fresh(stored) {
		s.cache(stored)
		return stored, nil
	}
	if stored.RefreshToken == "" {
		if rejected != "" {
			return nil, errors.New("ultracart: the stored token was rejected and has no refresh token; run the authorization flow again")
		}
		return nil, errors.New("ultracart: the stored token has expired and has no refresh token; run the authorization flow again")
	}

	tok, err := refresh(ctx, s.conf, stored.RefreshToken)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		// Keep the refresh token, without writing into a token that
		// x/oauth2 may still hold.
		t := *tok
		t.RefreshToken = stored.RefreshToken
		tok = &t
	}
	if err := s.store.Save(ctx, tok); err != nil {
		if tok.RefreshToken != stored.RefreshToken {
			s.unsaved, s.unsavedBase = tok, stored.RefreshToken
			return nil, chain("the rotated refresh token could not be saved", ErrPersist, err)
		}
		// The stored refresh token still works: nothing is lost, and the
		// next refresh saves again.
	}
	s.cache(tok)
	return tok, nil
}

// refresh redeems refreshToken for a new token through conf, in UltraCart's
// dialect. The new token keeps refreshToken when the server sends none.
func refresh(ctx context.Context, conf *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	src := withEndpoint(conf).TokenSource(NewContext(ctx), &oauth2.Token{RefreshToken: refreshToken})
	tok, err := src.Token()
	return tok, wrapError(err)
}
