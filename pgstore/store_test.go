package pgstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

func testToken(n string) *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  "uc-at-" + n,
		TokenType:    "bearer",
		RefreshToken: "uc-rt-" + n,
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}).WithExtra(map[string]any{"scope": "item_read"})
}

// assertNoSecret checks that err says nothing of the tokens.
func assertNoSecret(t *testing.T, err error, toks ...*oauth2.Token) {
	t.Helper()
	for _, tok := range toks {
		for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
			assert.NotContains(t, err.Error(), s)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	ctx := context.Background()
	st := s.For("DEMO")

	_, err := st.Load(ctx)
	require.ErrorIs(t, err, ultracart.ErrNoToken)
	assert.Equal(t, `ultracart: pgstore: no token stored for merchant "DEMO" in table `+s.table+`; run the authorization flow first`, err.Error())

	tok := testToken("1")
	require.NoError(t, st.Save(ctx, tok))
	got, err := st.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, got.AccessToken)
	assert.Equal(t, tok.RefreshToken, got.RefreshToken)
	assert.Equal(t, "bearer", got.TokenType)
	assert.True(t, tok.Expiry.Equal(got.Expiry))
	assert.Equal(t, "item_read", got.Extra("scope"), "the scope is kept")

	// The row: the token's JSON as FileStore writes it, version 1; each
	// save adds one.
	var version int64
	var scope, access string
	require.NoError(t, pool.QueryRow(ctx, `SELECT version, token->>'scope', token->>'access_token' FROM `+s.quoted+` WHERE merchant = 'DEMO'`).Scan(&version, &scope, &access))
	assert.Equal(t, int64(1), version)
	assert.Equal(t, "item_read", scope)
	assert.Equal(t, tok.AccessToken, access)
	require.NoError(t, st.Save(ctx, testToken("2")))
	require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM `+s.quoted+` WHERE merchant = 'DEMO'`).Scan(&version))
	assert.Equal(t, int64(2), version)

	// Other merchants are other rows.
	_, err = s.For("OTHER").Load(ctx)
	require.ErrorIs(t, err, ultracart.ErrNoToken)

	require.NoError(t, s.Delete(ctx, "DEMO"))
	_, err = st.Load(ctx)
	require.ErrorIs(t, err, ultracart.ErrNoToken)
	require.NoError(t, s.Delete(ctx, "DEMO"), "deleting twice is fine")
}

func TestBadMerchantKey(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	ctx := context.Background()
	for _, tc := range []struct{ key, want string }{
		{"", "ultracart: pgstore: empty merchant key"},
		{"a\x00b", `ultracart: pgstore: merchant key "a\x00b" is not valid UTF-8 text`},
		{"\xff", `ultracart: pgstore: merchant key "\xff" is not valid UTF-8 text`},
	} {
		st := s.For(tc.key)
		_, err := st.Load(ctx)
		assert.EqualError(t, err, tc.want)
		assert.NotErrorIs(t, err, ultracart.ErrNoToken)
		assert.EqualError(t, st.Save(ctx, testToken("1")), tc.want)
		_, err = st.(ultracart.Locker).Lock(ctx)
		assert.EqualError(t, err, tc.want)
		assert.EqualError(t, s.Delete(ctx, tc.key), tc.want)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+s.quoted).Scan(&n))
	assert.Zero(t, n)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	table := newTable(t, pool)
	s := New(pool, Options{Table: table})
	ctx := context.Background()
	_, err := s.For("DEMO").Load(ctx)
	require.Error(t, err, "no table yet")
	assert.NotErrorIs(t, err, ultracart.ErrNoToken)

	// Twice, and from several replicas at once.
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.For("DEMO").Save(ctx, testToken("1")))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, New(pool, Options{Table: table}).Migrate(ctx)) })
	}
	wg.Wait()
	got, err := s.For("DEMO").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-1", got.AccessToken, "Migrate keeps the rows")

	// Concurrent first migrations of a new table.
	fresh := newTable(t, pool)
	for range 4 {
		wg.Go(func() { assert.NoError(t, New(pool, Options{Table: fresh}).Migrate(ctx)) })
	}
	wg.Wait()

	// A schema-qualified name.
	_, err = pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS pgstore_test`)
	require.NoError(t, err)
	q := New(pool, Options{Table: "pgstore_test." + table})
	t.Cleanup(func() { pool.Exec(context.Background(), `DROP SCHEMA pgstore_test CASCADE`) })
	require.NoError(t, q.Migrate(ctx))
	require.NoError(t, q.For("DEMO").Save(ctx, testToken("9")))
	got, err = q.For("DEMO").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-9", got.AccessToken)
}

func TestBadTableNames(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	ctx := context.Background()
	for _, name := range []string{
		"a b", "1tokens", "tokens;drop table x", `to"kens`, "Tokens", "tökens", "a.b.c", ".tokens", "tokens.",
		strings.Repeat("a", 64), "tokens-1", "",
	} {
		t.Run(name, func(t *testing.T) {
			if name == "" {
				s := New(pool, Options{Table: name})
				assert.Equal(t, DefaultTable, s.table, "empty means the default")
				assert.NoError(t, s.err)
				return
			}
			s := New(pool, Options{Table: name})
			err := s.Migrate(ctx)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: pgstore: invalid table name "), err.Error())
			_, err = s.For("DEMO").Load(ctx)
			assert.ErrorContains(t, err, "invalid table name")
			assert.ErrorContains(t, s.For("DEMO").Save(ctx, testToken("1")), "invalid table name")
			assert.ErrorContains(t, s.Delete(ctx, "DEMO"), "invalid table name")
			_, err = s.For("DEMO").(ultracart.Locker).Lock(ctx)
			assert.ErrorContains(t, err, "invalid table name")
		})
	}
	assert.NoError(t, New(pool, Options{Table: strings.Repeat("a", 63)}).err, "63 bytes is the limit")
	assert.EqualError(t, New(nil, Options{}).Migrate(ctx), "ultracart: pgstore: New needs a pgxpool.Pool")
	assert.EqualError(t, New(pool, Options{Seal: []cipher.AEAD{nil}}).Migrate(ctx), "ultracart: pgstore: Options.Seal[0] is nil")
}

func newAEAD(t *testing.T) cipher.AEAD {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	a, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return a
}

func TestSeal(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	ctx := context.Background()
	table := newTable(t, pool)
	oldKey, newKey := newAEAD(t), newAEAD(t)
	old := New(pool, Options{Table: table, Seal: []cipher.AEAD{oldKey}})
	require.NoError(t, old.Migrate(ctx))
	tok := testToken("sealed")
	require.NoError(t, old.For("A").Save(ctx, tok))

	// The row holds no part of the token in the clear.
	var plain, sealed []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT token::text::bytea, sealed FROM `+old.quoted+` WHERE merchant = 'A'`).Scan(&plain, &sealed))
	assert.Nil(t, plain)
	assert.NotContains(t, string(sealed), tok.AccessToken)
	assert.NotContains(t, string(sealed), tok.RefreshToken)
	got, err := old.For("A").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken, got.RefreshToken)
	assert.Equal(t, "item_read", got.Extra("scope"))

	t.Run("copied to another merchant", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO `+old.quoted+` (merchant, sealed, version) SELECT 'B', sealed, 1 FROM `+old.quoted+` WHERE merchant = 'A'`)
		require.NoError(t, err)
		_, err = old.For("B").Load(ctx)
		require.Error(t, err)
		assert.Equal(t, `ultracart: pgstore: the sealed token of merchant "B" opens with none of the store's keys: sealed with another key, or copied from another merchant's row`, err.Error())
		assert.NotErrorIs(t, err, ultracart.ErrNoToken)
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := New(pool, Options{Table: table, Seal: []cipher.AEAD{newKey}}).For("A").Load(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `merchant "A" opens with none of the store's keys`)
	})
	t.Run("no key", func(t *testing.T) {
		_, err := New(pool, Options{Table: table}).For("A").Load(ctx)
		assert.EqualError(t, err, `ultracart: pgstore: the token of merchant "A" is sealed, and the store has no key (Options.Seal) to open it`)
	})
	t.Run("unsealed row", func(t *testing.T) {
		require.NoError(t, New(pool, Options{Table: table}).For("C").Save(ctx, testToken("c")))
		_, err := old.For("C").Load(ctx)
		assert.EqualError(t, err, `ultracart: pgstore: the token of merchant "C" is not sealed, and the store seals tokens; save it again through the store`)
		assert.NotErrorIs(t, err, ultracart.ErrNoToken)
	})
	t.Run("damaged", func(t *testing.T) {
		for _, v := range []string{`'\x'::bytea`, `'\x02'::bytea`, `'\x01aa'::bytea`, `set_byte(sealed, 20, get_byte(sealed, 20) # 1)`} {
			_, err := pool.Exec(ctx, `INSERT INTO `+old.quoted+` AS t (merchant, sealed, version) SELECT 'D', `+v+`, 1 FROM `+old.quoted+` WHERE merchant = 'A'
ON CONFLICT (merchant) DO UPDATE SET sealed = EXCLUDED.sealed`)
			require.NoError(t, err)
			_, err = old.For("D").Load(ctx)
			require.Error(t, err, v)
			assert.Contains(t, err.Error(), `ultracart: pgstore: the sealed token of merchant "D"`)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		rotated := New(pool, Options{Table: table, Seal: []cipher.AEAD{newKey, oldKey}})
		got, err := rotated.For("A").Load(ctx)
		require.NoError(t, err, "rows sealed with the old key open")
		assert.Equal(t, tok.AccessToken, got.AccessToken)
		require.NoError(t, rotated.For("A").Save(ctx, testToken("rotated")))
		got, err = New(pool, Options{Table: table, Seal: []cipher.AEAD{newKey}}).For("A").Load(ctx)
		require.NoError(t, err, "new saves use the new key")
		assert.Equal(t, "uc-at-rotated", got.AccessToken)
		_, err = old.For("A").Load(ctx)
		assert.ErrorContains(t, err, "opens with none of the store's keys")
	})
}

// TestLostLock: a holder that lost its lock, or whose row moved on, cannot
// overwrite the newer token.
func TestLostLock(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	ctx := context.Background()

	t.Run("row saved meanwhile", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			before bool // a row exists when the lock is taken
			load   bool // the holder loads under the lock
			change func(s *Store) error
		}{
			{"saved, after a load", true, true, func(s *Store) error { return s.For("M").Save(ctx, testToken("new")) }},
			{"saved, without a load", true, false, func(s *Store) error { return s.For("M").Save(ctx, testToken("new")) }},
			{"deleted", true, true, func(s *Store) error { return s.Delete(ctx, "M") }},
			{"created", false, true, func(s *Store) error { return s.For("M").Save(ctx, testToken("new")) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t, pool, Options{})
				if tc.before {
					require.NoError(t, s.For("M").Save(ctx, testToken("0")))
				}
				a := s.For("M")
				unlock, err := a.(ultracart.Locker).Lock(ctx)
				require.NoError(t, err)
				defer unlock()
				if tc.load {
					_, err = a.Load(ctx)
					if !tc.before {
						require.ErrorIs(t, err, ultracart.ErrNoToken)
					} else {
						require.NoError(t, err)
					}
				}
				require.NoError(t, tc.change(s), "saves and deletes outside the lock never wait for it")
				var before []byte
				_ = pool.QueryRow(ctx, `SELECT token::text::bytea FROM `+s.quoted+` WHERE merchant = 'M'`).Scan(&before)

				err = a.Save(ctx, testToken("stale"))
				require.ErrorIs(t, err, ErrConflict)
				assert.Equal(t, `ultracart: pgstore: saving the token of merchant "M": ultracart: pgstore: the stored token changed since it was loaded; the newer token is kept`, err.Error())
				var after []byte
				_ = pool.QueryRow(ctx, `SELECT token::text::bytea FROM `+s.quoted+` WHERE merchant = 'M'`).Scan(&after)
				assert.Equal(t, before, after, "the row is untouched")
			})
		}
	})

	t.Run("two saves under one lock", func(t *testing.T) {
		s := newStore(t, pool, Options{})
		a := s.For("M")
		unlock, err := a.(ultracart.Locker).Lock(ctx)
		require.NoError(t, err)
		require.NoError(t, a.Save(ctx, testToken("1")), "creates the row")
		require.NoError(t, a.Save(ctx, testToken("2")), "its own save moved the version")
		unlock()
		got, err := a.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, "uc-at-2", got.AccessToken)
	})
}

// TestNewGrantDuringRefresh: the authorization callback saves a new grant
// while a replica refreshes the old one. The replica's save fails, the new
// grant is kept, and the replica adopts it next.
func TestNewGrantDuringRefresh(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	srv := ultracarttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	old := srv.IssueToken("")
	old.Expiry = time.Now().Add(-time.Hour)
	require.NoError(t, s.For("M").Save(ctx, old))
	grant := srv.IssueToken("")

	var once sync.Once
	hook := &hookTransport{after: func() {
		once.Do(func() { require.NoError(t, s.For("M").Save(ctx, grant)) })
	}}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: hook})
	src := ultracart.PersistentTokenSource(hctx, &oauth2.Config{ClientID: "c", Endpoint: srv.Endpoint()}, s.For("M"))
	_, err := src.Token()
	require.Error(t, err)
	assert.ErrorIs(t, err, ultracart.ErrPersist)
	assert.ErrorIs(t, err, ErrConflict)
	assertNoSecret(t, err, old, grant)

	got, err := s.For("M").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, grant.AccessToken, got.AccessToken, "the new grant is kept")
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, grant.AccessToken, tok.AccessToken, "the replica adopts the new grant")
	assert.Equal(t, 1, srv.Stats().Refresh)
}

type hookTransport struct{ after func() }

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	h.after()
	return resp, err
}

// TestSmallPool: ten merchants refreshing at once, from two replicas, on
// pools of four connections each.
func TestSmallPool(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 4)
	other := needPG(t, 4)
	s := newStore(t, pool, Options{})
	s2 := New(other, Options{Table: s.table})
	srv := ultracarttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	const n = 10
	for i := range n {
		tok := srv.IssueToken("")
		tok.Expiry = time.Now().Add(-time.Hour)
		require.NoError(t, s.For(merchantName(i)).Save(ctx, tok))
	}
	conf := &oauth2.Config{ClientID: "c", Endpoint: srv.Endpoint()}
	replicas := []*ultracart.Merchants{ultracart.NewMerchants(ctx, conf, s.For), ultracart.NewMerchants(ctx, conf, s2.For)}
	var wg sync.WaitGroup
	for i := range n {
		for _, r := range replicas {
			for range 3 {
				wg.Go(func() {
					_, err := r.TokenSource(merchantName(i)).Token()
					assert.NoError(t, err)
				})
			}
		}
	}
	wg.Wait()
	assert.Equal(t, n, srv.Stats().Refresh)
	assert.Zero(t, pool.Stat().AcquiredConns())
	assert.Zero(t, other.Stat().AcquiredConns())
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	ctx := context.Background()
	require.NoError(t, s.For("M").Save(ctx, testToken("0")))
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	_, err := s.For("M").Load(canceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.For("M").Save(canceled, testToken("x")), context.Canceled)
	assert.ErrorIs(t, s.Delete(canceled, "M"), context.Canceled)
	assert.ErrorIs(t, New(pool, Options{Table: newTable(t, pool)}).Migrate(canceled), context.Canceled)
	_, err = s.For("M").(ultracart.Locker).Lock(canceled)
	assert.ErrorIs(t, err, context.Canceled)
	got, err := s.For("M").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-0", got.AccessToken, "nothing was written or deleted")

	// Under the lock.
	st := s.For("M")
	unlock, err := st.(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	_, err = st.Load(canceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, st.Save(canceled, testToken("x")), context.Canceled)

	// Waiting for this value's turn.
	tctx, tcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = st.(ultracart.Locker).Lock(tctx)
	tcancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Waiting for the lock, held by another value: in this process, and
	// in another replica.
	since := serverNow(t, pool)
	for _, w := range []*Store{s, New(needPG(t, 0), Options{Table: s.table})} {
		wctx, wcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := w.For("M").(ultracart.Locker).Lock(wctx)
			done <- err
		}()
		if w != s {
			waitForLockAttempts(t, pool, since, 1)
		}
		wcancel()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Fatal("Lock did not honour its ctx")
		}
	}
	unlock()
	// The given-up request left no lock behind.
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	unlock, err = s.For("M").(ultracart.Locker).Lock(lctx)
	require.NoError(t, err)
	unlock()
	got, err = s.For("M").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-0", got.AccessToken)
	require.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestConnectionErrors(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody:pw-not-shown@127.0.0.1:1/none?connect_timeout=2&sslmode=disable")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer pool.Close()
	s := New(pool, Options{})
	ctx := context.Background()
	_, err = s.For("M").Load(ctx)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `ultracart: pgstore: loading the token of merchant "M": database connection failed: `), err.Error())
	assert.NotContains(t, err.Error(), "pw-not-shown")
	var temp interface{ Temporary() bool }
	require.ErrorAs(t, err, &temp)
	assert.True(t, temp.Temporary())
	assert.NotErrorIs(t, err, ultracart.ErrNoToken)
	_, err = s.For("M").(ultracart.Locker).Lock(ctx)
	require.ErrorAs(t, err, &temp)
	assert.True(t, temp.Temporary())

	// An answer of the server is not a connection failure.
	if pgURL != "" {
		live := needPG(t, 0)
		_, err := New(live, Options{Table: "no_such_table_here"}).For("M").Load(ctx)
		require.Error(t, err)
		require.ErrorAs(t, err, &temp)
		assert.False(t, temp.Temporary())
		assert.NotContains(t, err.Error(), "connection failed")
		var pe interface{ SQLState() string }
		require.True(t, errors.As(err, &pe))
		assert.Equal(t, "42P01", pe.SQLState())
	}
}
