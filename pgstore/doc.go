// Package pgstore keeps the UltraCart tokens of many merchants in one
// PostgreSQL table, shared by every replica of an application, with a lock
// that makes one refresh per merchant per expiry across all of them.
// [Store.For] gives the [ultracart.TokenStore] of one merchant, made for
// [ultracart.NewMerchants]:
//
//	// newMerchants runs once, at start-up, in every replica.
//	func newMerchants(ctx context.Context, conf *oauth2.Config) (*ultracart.Merchants, error) {
//		pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//		if err != nil {
//			return nil, err
//		}
//		store := pgstore.New(pool, pgstore.Options{})
//		if err := store.Migrate(ctx); err != nil { // or create the table yourself, see below
//			return nil, err
//		}
//		return ultracart.NewMerchants(ctx, conf, store.For), nil
//	}
//
// merchants.Client("DEMO") is then the HTTP client of merchant DEMO (see
// [ultracart.Merchants.Client]).
// Keep the store as well: the authorization callback saves a merchant's
// first token with store.For(merchant).Save, and [Store.Delete] forgets a
// merchant that disconnected the application.
//
// # The table
//
// One row per merchant. [Store.Migrate] runs this statement (with the
// table name of [Options]), which users who manage their migrations
// themselves can run instead:
//
//	CREATE TABLE IF NOT EXISTS ultracart_tokens (
//		merchant   text        PRIMARY KEY,
//		token      json,                 -- the token, as FileStore keeps it; NULL when sealed
//		sealed     bytea,                -- the sealed token; NULL when not sealed
//		version    bigint      NOT NULL, -- 1 when the row is made, +1 on every save
//		updated_at timestamptz NOT NULL DEFAULT now(),
//		CHECK ((token IS NULL) <> (sealed IS NULL))
//	)
//
// The token column holds the JSON of the [oauth2.Token] with the scope that
// UltraCart granted beside its fields, as [ultracart.FileStore] writes it.
// With [Options.Seal], the sealed column holds instead a version byte (1), the
// nonce and the ciphertext of that JSON, sealed with Seal[0] and with the
// table name and the merchant key as additional data, so that a row copied
// to another merchant (or another table) does not open.
//
// # The lock
//
// The value of [Store.For] implements [ultracart.Locker], and
// [ultracart.PersistentTokenSource] (so [ultracart.Merchants]) holds its lock while it reloads,
// refreshes and saves a merchant's token. The lock is a session-level
// advisory lock (pg_advisory_lock) on a key hashed from the table name and
// the merchant, taken on a connection of the pool that the holder keeps
// until it unlocks, and on which its Load and Save run. It was chosen over
// SELECT … FOR UPDATE because it exists before the merchant's row does,
// blocks no reader and no other writer (the authorization callback's Save
// of a new grant never waits for a refresh), and lets a holder commit its
// save at once and keep the lock. So:
//
//   - one merchant's refresh never blocks another merchant: the keys differ;
//   - within one process, the callers of one For value take turns before
//     they take a connection, so the pool is never filled with waiters; a
//     holder needs no second connection, so a pool of any size completes any
//     number of refreshes;
//   - Lock honours ctx at each of its steps; a connection whose lock request
//     was interrupted is closed, never put back in the pool;
//   - the server releases the lock when the holder's session ends: at once
//     when the holder's process dies and its host stays up (SIGKILL, a
//     crash), since the kernel closes its socket; and, for a host that
//     vanished or a holder that stalled, when the session has been silent
//     for [LockIdleTimeout], which the lock sets as the session's
//     idle_session_timeout (PostgreSQL 14 or later) while it is held. A
//     refresh takes at most 30 s, so the timeout never ends a live one.
//
// # Conditional saves
//
// While the lock is held, Save writes only when the row still has the
// version that the holder last read (by Lock itself, and by Load), on the
// lock's own connection. A holder that lost its lock (its connection
// dropped, or the server ended its session) or whose merchant was saved or
// deleted meanwhile gets an error, matching [ErrConflict] when the row moved
// on, and the row keeps the newer token: PersistentTokenSource reports it
// (as [ultracart.ErrPersist] when the refresh token rotated) and adopts the
// stored token on its next call. Outside the lock, Save writes
// unconditionally: that is the authorization callback storing a new grant.
//
// Errors name the merchant and never contain a token. An error of a
// connection says so, and has a Temporary method that reports true when a
// retry can help (connection failures, timeouts, a server shutting down,
// too many connections).
package pgstore
