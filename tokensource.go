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
	"time"

	"golang.org/x/oauth2"
)

// TokenStore keeps one token between runs of a program, for instance the
// token of one merchant. Load returns an error matching [ErrNoToken] when the
// store holds no token. Implementations must be safe for concurrent use;
// their errors must not contain the token's secrets. [FileStore] and
// [MemoryStore] are TokenStores; [PersistentTokenSource] uses one.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, t *oauth2.Token) error
}

// Locker is implemented by stores that can serialize refreshes across the
// processes (or goroutines) that share them. Lock blocks until the caller
// holds the lock or ctx is done; the caller calls unlock once it is done.
// [PersistentTokenSource] holds the lock while it reloads the token, refreshes
// it when still needed and saves the new one. [FileStore] and [MemoryStore]
// are Lockers.
type Locker interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

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
// passed: 1 s, doubling with each replacement in a row, up to a minute.
// Meanwhile the client's rejected requests fail with their 401, an error
// matching [ErrInvalidToken].
type Invalidator interface {
	Invalidate(t *oauth2.Token)
}

// Errors of a [TokenStore] and of [PersistentTokenSource], to branch on with
// [errors.Is]. [ErrNoToken] means the merchant has not authorized the
// application yet (or the store was emptied); [ErrPersist] means a rotated
// refresh token waits, in memory, to be saved.
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
