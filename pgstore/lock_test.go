package pgstore

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// serverNow returns the server's clock, which dates pg_stat_activity.
func serverNow(t *testing.T, pool *pgxpool.Pool) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now))
	return now
}

// waitForLockAttempts waits until n sessions of the server have asked for
// an advisory lock since a time (their current or last query), so that a
// second replica is known to wait for the lock a first one holds. since is
// the server's time (see serverNow).
func waitForLockAttempts(t *testing.T, pool *pgxpool.Pool, since time.Time, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var got int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE query_start >= $1 AND query LIKE '%advisory_lock(%' AND query NOT LIKE '%pg_stat_activity%'`, since).Scan(&got)
		return err == nil && got >= n
	}, 10*time.Second, 5*time.Millisecond)
}

// TestLockReadsTheVersionAfterItsWait (issue 16, point 7): a replica that
// waited for the lock while another one saved, then saves without a Load,
// holds the lock and so must not get ErrConflict.
func TestLockReadsTheVersionAfterItsWait(t *testing.T) {
	t.Parallel()
	a := newStore(t, needPG(t, 0), Options{})
	b := New(needPG(t, 0), Options{Table: a.table})
	ctx := context.Background()
	require.NoError(t, a.For("M").Save(ctx, testToken("0")))

	since := serverNow(t, a.pool)
	holder := a.For("M")
	unlockA, err := holder.(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	waiter := b.For("M")
	locked := make(chan error, 1)
	var unlockB func()
	go func() {
		var err error
		unlockB, err = waiter.(ultracart.Locker).Lock(ctx)
		locked <- err
	}()
	waitForLockAttempts(t, a.pool, since, 2)
	require.NoError(t, holder.Save(ctx, testToken("a")))
	unlockA()
	require.NoError(t, <-locked)
	defer unlockB()

	require.NoError(t, waiter.Save(ctx, testToken("b")), "the version is read once the lock is held")
	got, err := a.For("M").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-b", got.AccessToken)
}

// TestLockKeyIsTheTablesIdentity (issue 17, point 8): replicas that spell
// one table differently (t and public.t) take the same lock.
func TestLockKeyIsTheTablesIdentity(t *testing.T) {
	t.Parallel() // it waits more than it computes
	pool := needPG(t, 0)
	plain := newStore(t, pool, Options{})
	qualified := New(needPG(t, 0), Options{Table: "public." + plain.table})
	ctx := context.Background()

	unlock, err := plain.For("M").(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	defer unlock()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond) // a held lock stays held: any wait shows it
	unlock2, err := qualified.For("M").(ultracart.Locker).Lock(short)
	cancel()
	if err == nil {
		unlock2()
	}
	require.ErrorIs(t, err, context.DeadlineExceeded, "public.%s is %s: its lock is held", plain.table, plain.table)
	unlock()

	unlock2, err = qualified.For("M").(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	unlock2()

	// Migrate's turns too.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("migrate", "public\x00"+plain.table, ""))
	require.NoError(t, err)
	for _, s := range []*Store{plain, qualified} {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := s.Migrate(short)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "%s waits for its turn", s.table)
	}
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, qualified.Migrate(ctx))
}

// blockingTransport holds every request until release is closed, after
// saying on arrived that one came.
type blockingTransport struct {
	arrived chan struct{}
	release chan struct{}
}

func (b *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.arrived <- struct{}{}
	<-b.release
	return http.DefaultTransport.RoundTrip(r)
}

// TestNoPoolConnectionHeldAcrossARefresh (issue 18): while a refresh holds
// a merchant's lock and waits for UltraCart, it holds none of the pool's
// connections, so that other merchants (and the application's own queries)
// never queue behind it, even on a pool of one connection.
func TestNoPoolConnectionHeldAcrossARefresh(t *testing.T) {
	t.Parallel()
	pool := needPG(t, 1)
	s := newStore(t, pool, Options{})
	srv := ultracarttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	expired := srv.IssueToken("")
	expired.Expiry = time.Now().Add(-time.Hour)
	require.NoError(t, s.For("EXPIRED").Save(ctx, expired))
	require.NoError(t, s.For("HEALTHY").Save(ctx, srv.IssueToken("")))

	tr := &blockingTransport{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tr})
	merchants := ultracart.NewMerchants(hctx, &oauth2.Config{ClientID: "c", Endpoint: srv.Endpoint()}, s.For)
	refreshed := make(chan error, 1)
	go func() {
		_, err := merchants.TokenSource("EXPIRED").Token()
		refreshed <- err
	}()
	<-tr.arrived // the refresh holds the lock and waits for UltraCart

	assert.Zero(t, pool.Stat().AcquiredConns(), "no pool connection is held across the token request")
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.For("HEALTHY").Load(short)
	assert.NoError(t, err, "another merchant's Load does not wait for the refresh")
	var n int
	assert.NoError(t, pool.QueryRow(short, `SELECT 1`).Scan(&n), "nor does the application's own SQL")
	// A healthy merchant's first request, in this replica and in another.
	other := ultracart.NewMerchants(hctx, &oauth2.Config{ClientID: "c", Endpoint: srv.Endpoint()}, New(needPG(t, 1), Options{Table: s.table}).For)
	for _, m := range []*ultracart.Merchants{merchants, other} {
		got := make(chan error, 1)
		go func() {
			_, err := m.TokenSource("HEALTHY").Token()
			got <- err
		}()
		select {
		case err := <-got:
			assert.NoError(t, err)
		case <-short.Done():
			t.Error("a healthy merchant waited for another merchant's refresh")
		}
	}

	close(tr.release)
	require.NoError(t, <-refreshed)
	assert.Equal(t, 1, srv.Stats().Refresh)
}

// TestLostLockSession: a replica's lock session ends (the server ended it,
// its connection dropped) while it holds locks. Another replica gets them
// at once; a save under a lost lock writes only where the row did not move
// on; the replica's next lock opens a new session.
func TestLostLockSession(t *testing.T) {
	t.Parallel() // it waits more than it computes
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	other := New(needPG(t, 0), Options{Table: s.table})
	ctx := context.Background()
	for _, m := range []string{"M", "N"} {
		require.NoError(t, s.For(m).Save(ctx, testToken("0")))
	}
	a, n := s.For("M"), s.For("N")
	unlockA, err := a.(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	defer unlockA()
	unlockN, err := n.(ultracart.Locker).Lock(ctx)
	require.NoError(t, err)
	defer unlockN()
	_, err = a.Load(ctx)
	require.NoError(t, err)

	s.sess.mu.Lock()
	pid := s.sess.conn.PgConn().PID()
	s.sess.mu.Unlock()
	var ok bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok))
	require.True(t, ok)

	b := other.For("M")
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlockB, err := b.(ultracart.Locker).Lock(lctx)
	require.NoError(t, err, "the lock is free once the session ended")
	_, err = b.Load(ctx)
	require.NoError(t, err)
	require.NoError(t, b.Save(ctx, testToken("b")))
	unlockB()

	err = a.Save(ctx, testToken("a"))
	require.ErrorIs(t, err, ErrConflict)
	assertNoSecret(t, err, testToken("a"))
	got, err := s.For("M").Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-at-b", got.AccessToken, "the newer token is kept")
	unlockA() // releasing a lost lock is harmless
	require.NoError(t, n.Save(ctx, testToken("n")), "N's row did not move on")
	unlockN()

	unlock, err := s.For("M").(ultracart.Locker).Lock(ctx)
	require.NoError(t, err, "a new session")
	defer unlock()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = other.For("M").(ultracart.Locker).Lock(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the new session holds the lock")
	assert.Zero(t, pool.Stat().AcquiredConns())
}

// TestLockSessionClosesWhenUnused: the lock session of a replica that
// stopped refreshing closes itself, before the server's idle timeout would
// end it, and the next lock opens another.
func TestLockSessionClosesWhenUnused(t *testing.T) {
	t.Parallel() // it waits more than it computes
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	s.sess.idle = 200 * time.Millisecond
	ctx := context.Background()
	open := func() bool {
		s.sess.mu.Lock()
		defer s.sess.mu.Unlock()
		return s.sess.conn != nil
	}
	for range 2 {
		unlock, err := s.For("M").(ultracart.Locker).Lock(ctx)
		require.NoError(t, err)
		require.True(t, open())
		unlock()
		require.Eventually(t, func() bool { return !open() }, 5*time.Second, 10*time.Millisecond)
	}
}
