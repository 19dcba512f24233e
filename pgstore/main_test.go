package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// The tests run against a real PostgreSQL: the one ULTRACART_PG_URL names,
// or else a private one that TestMain starts from the binaries of the
// machine (pg_config --bindir) and removes at the end. Without either they
// skip, unless ULTRACART_PG_REQUIRED is set (as .ci/run does), which makes
// them fail instead.

// pgURL is the connection string of the server; empty when there is none,
// and pgMissing then says why and what to do.
var (
	pgURL     string
	pgMissing string
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	// The tests that need PostgreSQL work on tables of their own, in
	// parallel, and wait on the server, on child processes and on timeouts
	// far more than they compute: unless -parallel is given, let them
	// overlap beyond GOMAXPROCS (its default).
	flag.Parse()
	if !flagGiven("test.parallel") {
		flag.Set("test.parallel", "8")
	}
	pgURL = os.Getenv("ULTRACART_PG_URL")
	var stop func()
	if pgURL == "" {
		var err error
		pgURL, stop, err = startPostgres()
		if err != nil {
			pgURL = ""
			pgMissing = "pgstore: no PostgreSQL for the tests (" + err.Error() + "): install PostgreSQL so that pg_config is on PATH (Debian: apt-get install postgresql), or set ULTRACART_PG_URL"
			fmt.Fprintln(os.Stderr, pgMissing)
		}
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// flagGiven reports whether the command line gave the flag name.
func flagGiven(name string) (given bool) {
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// needPG returns a pool on the test server, closed at the end of the test,
// or skips the test (fails it under ULTRACART_PG_REQUIRED) without one.
func needPG(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	if pgURL == "" {
		if os.Getenv("ULTRACART_PG_REQUIRED") != "" {
			t.Fatal(pgMissing + " (ULTRACART_PG_REQUIRED is set)")
		}
		t.Skip(pgMissing)
	}
	cfg, err := pgxpool.ParseConfig(pgURL)
	require.NoError(t, err)
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Close waits for every acquired connection: a lock the test left
		// held must fail the test, not hang it.
		closed := make(chan struct{})
		go func() { pool.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Errorf("the pool did not close: %d connections still acquired", pool.Stat().AcquiredConns())
		}
	})
	return pool
}

// newTable returns the name of a fresh table, dropped at the end of the
// test.
func newTable(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tokens_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a migrated store over a fresh table.
func newStore(t testing.TB, pool *pgxpool.Pool, opts Options) *Store {
	t.Helper()
	if opts.Table == "" {
		opts.Table = newTable(t, pool)
	}
	s := New(pool, opts)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}
