package pgstore

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ultracart-go/ultracart"
)

// DefaultTable is the table of a zero [Options].
const DefaultTable = "ultracart_tokens"

// LockIdleTimeout is how long a Store's lock session may stay silent before
// the server ends it, and with it the locks it holds: the longest a
// vanished host or a stalled process blocks a merchant's refresh. A live
// process's session holding locks speaks every quarter of it.
const LockIdleTimeout = 40 * time.Second

// Options configures a [Store]. The zero value is the table [DefaultTable],
// without sealing.
type Options struct {
	// Table is the name of the table, DefaultTable when empty: lower-case
	// letters, digits and underscores, not starting with a digit, at most
	// 63 bytes, optionally after a schema name of the same form and a dot.
	Table string

	// Seal, when set, seals the tokens at rest: Seal[0] seals every row
	// Save writes, and each of them is tried in turn to open a row, so that
	// keys can be rotated by putting the new key first. An AEAD with random
	// nonces of at least 96 bits, such as AES-256-GCM, fits.
	Seal []cipher.AEAD
}

// Store keeps the tokens of many merchants in one table; [Store.For] gives
// the [ultracart.TokenStore] of one merchant. Its methods and the stores For
// returns are safe for concurrent use by multiple goroutines. Make it with
// [New].
type Store struct {
	pool   *pgxpool.Pool
	table  string // as configured
	quoted string // for SQL
	seal   []cipher.AEAD
	err    error // a configuration error, returned by every method
	sess   session

	mu    sync.Mutex              // guards what follows
	ident string                  // the table as the server resolves it, once known
	taken map[int64]chan struct{} // the locks held in this process: closed on release
}

// identifier is one lower-case SQL identifier part.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns a [Store] over the table opts names in pool's database. It does
// not touch the database; see [Store.Migrate]. A bad Options (a table name that is
// not a plain identifier, a nil AEAD) makes every method of the store fail
// with an error that says so.
func New(pool *pgxpool.Pool, opts Options) *Store {
	s := &Store{pool: pool, table: opts.Table, seal: append([]cipher.AEAD(nil), opts.Seal...),
		sess: session{idle: LockIdleTimeout}, taken: make(map[int64]chan struct{})}
	if s.table == "" {
		s.table = DefaultTable
	}
	parts := strings.Split(s.table, ".")
	switch {
	case pool == nil:
		s.err = errors.New("ultracart: pgstore: New needs a pgxpool.Pool")
	case len(parts) > 2:
		s.err = fmt.Errorf("ultracart: pgstore: invalid table name %q: at most a schema and a table", s.table)
	default:
		for _, p := range parts {
			if !identifier.MatchString(p) {
				s.err = fmt.Errorf("ultracart: pgstore: invalid table name %q: use lower-case letters, digits and underscores, not starting with a digit, at most 63 of them", s.table)
				break
			}
		}
	}
	for i, a := range s.seal {
		if a == nil && s.err == nil {
			s.err = fmt.Errorf("ultracart: pgstore: Options.Seal[%d] is nil", i)
		}
	}
	s.quoted = pgx.Identifier(parts).Sanitize()
	return s
}

// Migrate creates the table when it does not exist. It is idempotent, and
// safe to run from several replicas at once.
func (s *Store) Migrate(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError("creating the table "+s.table, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Concurrent CREATE TABLE IF NOT EXISTS can fail on a duplicate type:
	// replicas that migrate at once take turns, whatever their spelling of
	// the table (t, public.t): the key names the schema it is created in.
	schema, name, qualified := strings.Cut(s.table, ".")
	if !qualified {
		name = schema
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return dbError("creating the table "+s.table, err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrate", schema+"\x00"+name, "")); err != nil {
		return dbError("creating the table "+s.table, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.quoted+` (
	merchant   text        PRIMARY KEY,
	token      json,
	sealed     bytea,
	version    bigint      NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((token IS NULL) <> (sealed IS NULL))
)`); err != nil {
		return dbError("creating the table "+s.table, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError("creating the table "+s.table, err)
	}
	return nil
}

// For returns the [ultracart.TokenStore] of merchant, a row of the table,
// for [ultracart.NewMerchants]. The value also implements
// [ultracart.Locker]; see the package doc for the lock. Each
// call returns a new value; the values of one merchant share its row and
// its lock.
//
// While a caller holds a value's lock, that value's Save is conditional,
// so give each refresher its own value ([ultracart.Merchants] does).
func (s *Store) For(merchant string) ultracart.TokenStore {
	return &merchantStore{s: s, merchant: merchant}
}

// Delete removes the token of merchant, who disconnected the application.
// Deleting a merchant that has no token is not an error. A refresh in
// progress for the merchant cannot bring the row back: its save fails.
func (s *Store) Delete(ctx context.Context, merchant string) error {
	if err := s.check(merchant); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.quoted+` WHERE merchant = $1`, merchant); err != nil {
		return dbError(fmt.Sprintf("deleting the token of merchant %q", merchant), err)
	}
	return nil
}

// check returns the configuration error, or an error for a bad merchant key.
func (s *Store) check(merchant string) error {
	switch {
	case s.err != nil:
		return s.err
	case merchant == "":
		return errors.New("ultracart: pgstore: empty merchant key")
	case strings.IndexByte(merchant, 0) >= 0 || !utf8.ValidString(merchant):
		return fmt.Errorf("ultracart: pgstore: merchant key %q is not valid UTF-8 text", merchant)
	}
	return nil
}

// lockKey returns the advisory lock key of one kind of lock for merchant
// in table.
func lockKey(kind, table, merchant string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ultracart/pgstore\x00" + kind + "\x00" + table + "\x00" + merchant))
	return int64(h.Sum64())
}

// identity returns the table as the server resolves its name, schema and
// table, for the keys of the merchant locks: every spelling of one table
// (t, public.t) takes the same locks.
func (s *Store) identity(ctx context.Context) (string, error) {
	s.mu.Lock()
	ident := s.ident
	s.mu.Unlock()
	if ident != "" {
		return ident, nil
	}
	var schema, table string
	err := s.pool.QueryRow(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::text::regclass`, s.quoted).Scan(&schema, &table)
	if err != nil {
		return "", err
	}
	ident = schema + "\x00" + table
	s.mu.Lock()
	s.ident = ident
	s.mu.Unlock()
	return ident, nil
}
