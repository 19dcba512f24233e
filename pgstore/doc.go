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
// advisory lock on a key hashed from the table, as the server resolves its
// name (so t and public.t are one table), and the merchant. A Store holds
// all its locks on one connection of its own, the lock session, which it
// takes out of the pool when it first needs it and closes once it has gone
// unused for a quarter to a half of [LockIdleTimeout]. Load, Save and the
// lock's read of the row each hold a connection of the pool for one
// statement. So a replica uses the connections of its pool (pgxpool's
// default: 4, or the number of CPUs when greater) and, while it refreshes
// and shortly after, one more: no pool connection waits for UltraCart, the
// application's own queries never queue behind a refresh, and a pool of any
// size completes any number of refreshes. An advisory lock was chosen over a lease row in a
// lock table because it needs no row and no write, and the server frees it
// as soon as its holder's session ends, where a dead holder's lease would
// block its merchant until the lease ran out; and over SELECT … FOR UPDATE
// because it blocks no reader and no other writer (the authorization
// callback's Save of a new grant never waits for a refresh). So:
//
//   - one merchant's refresh never waits for another merchant's: the keys
//     differ, and a Load (a merchant's first request, when its token is
//     valid) takes no lock at all;
//   - within one process, the callers of one merchant's lock wait for each
//     other in memory; a lock that another replica holds is asked for again
//     and again (pg_try_advisory_lock), after pauses that double from 2 ms
//     to at most 50 ms, until it is free or ctx is done;
//   - the server releases every lock of a replica when its lock session
//     ends: at once when its process dies and its host stays up (SIGKILL,
//     a crash), since the kernel closes its socket; and, for a host that
//     vanished or a process that stalled, when the session has been silent
//     for [LockIdleTimeout], which it sets as its idle_session_timeout
//     (PostgreSQL 14 or later). While it holds locks, the session of a live
//     process says something every quarter of that time, so a refresh that
//     waits long for UltraCart keeps its lock;
//   - a lock session lost while it holds locks (its connection dropped, the
//     server ended it) lets other replicas take those locks while the
//     refreshes under them go on: the conditional save below keeps the
//     row from going back, and the next lock opens a new session.
//
// # Conditional saves
//
// While the lock is held, Save writes only when the row still has the
// version that the holder last read (by Lock itself, once the lock is held,
// and by Load). A holder whose merchant was saved or deleted meanwhile (by
// another replica that took the lock of a lost session, or by the
// authorization callback) gets an error matching [ErrConflict], and the
// row keeps the newer token: PersistentTokenSource reports it
// (as [ultracart.ErrPersist] when the refresh token rotated) and adopts the
// stored token on its next call. Outside the lock, Save writes
// unconditionally: that is the authorization callback storing a new grant.
//
// Errors name the merchant and never contain a token. An error of a
// connection says so, and has a Temporary method that reports true when a
// retry can help (connection failures, timeouts, a server shutting down,
// too many connections).
package pgstore
