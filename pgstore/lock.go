package pgstore

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A Store holds every merchant lock it takes on one connection of its own,
// the lock session, taken from the pool (and out of it) when first needed:
// so a lock holds no connection of the pool while its holder waits for
// UltraCart. See the package doc.

// pollMin and pollMax bound the pause between two attempts to take a lock
// that another session holds: doubling from pollMin, at most pollMax.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 50 * time.Millisecond
)

// sessionTimeout bounds each statement of the lock session; past it the
// session is closed, which releases its locks as well.
const sessionTimeout = 5 * time.Second

// session is a Store's lock session.
type session struct {
	mu   sync.Mutex // serializes the use of conn, and guards what follows
	conn *pgx.Conn  // nil until a lock is needed, and once lost or closed
	held int        // locks held on conn
	used bool       // conn ran a statement since the last tick
	beat *time.Timer
	idle time.Duration // the session's idle_session_timeout
}

// lock takes the advisory lock key, waiting until ctx is done: first for
// a holder in this process (the session would grant its own lock again),
// then, polling, for any other session.
func (s *Store) lock(ctx context.Context, key int64) (unlock func(), err error) {
	if err := s.take(ctx, key); err != nil {
		return nil, err
	}
	for pause := pollMin; ; pause = min(2*pause, pollMax) {
		conn, err := s.sess.try(ctx, s.pool, key)
		if err != nil {
			s.give(key)
			return nil, err
		}
		if conn != nil {
			var once sync.Once
			return func() {
				once.Do(func() {
					s.sess.unlock(conn, key)
					s.give(key)
				})
			}, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.give(key)
			return nil, ctx.Err()
		}
	}
}

// take makes the caller the holder of key in this process.
func (s *Store) take(ctx context.Context, key int64) error {
	for {
		s.mu.Lock()
		released, busy := s.taken[key]
		if !busy {
			s.taken[key] = make(chan struct{})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-released:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// give ends the caller's hold of key in this process.
func (s *Store) give(key int64) {
	s.mu.Lock()
	close(s.taken[key])
	delete(s.taken, key)
	s.mu.Unlock()
}

// try asks once for the lock key on the session, opening a session when
// there is none or it was lost. It returns the session's connection when
// it got the lock, and nil when another session holds it.
func (ss *session) try(ctx context.Context, pool *pgxpool.Pool, key int64) (*pgx.Conn, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for retried := false; ; retried = true {
		opened := ss.conn == nil
		if opened {
			if err := ss.open(ctx, pool); err != nil {
				return nil, err
			}
		}
		var ok bool
		err := ss.run(func(ctx context.Context, c *pgx.Conn) error {
			return c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok)
		})
		switch {
		case err != nil && (opened || retried):
			return nil, err
		case err != nil:
			// The session was lost since its last use (ended by the
			// server while idle, say): try once on a new one.
		case ok:
			ss.held++
			return ss.conn, nil
		default:
			return nil, nil
		}
	}
}

// open takes a connection out of the pool as the session. ss.mu is held.
func (ss *session) open(ctx context.Context, pool *pgxpool.Pool) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	// The server ends the session, and with it its locks, once it has
	// been silent for ss.idle: a vanished host, a stalled process. The
	// ticks keep a live one talking while it holds locks.
	if _, err := conn.Exec(ctx, `SELECT set_config('idle_session_timeout', $1, false)`, strconv.FormatInt(ss.idle.Milliseconds(), 10)); err != nil {
		closeConn(conn)
		return err
	}
	ss.conn, ss.held, ss.used = conn, 0, true
	ss.beat = time.AfterFunc(ss.idle/4, func() { ss.tick(conn) })
	return nil
}

// tick runs every quarter of ss.idle while conn is the session: it keeps
// the session talking while it holds locks, and closes it, before the
// server would, once it went a whole tick unused and without a lock.
func (ss *session) tick(conn *pgx.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.conn != conn {
		return
	}
	switch {
	case ss.held > 0:
		_ = ss.run(func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, `SELECT 1`)
			return err
		})
	case !ss.used:
		ss.drop()
	}
	if ss.conn == conn {
		ss.used = false
		ss.beat.Reset(ss.idle / 4)
	}
}

// unlock releases the lock key, taken on conn, unless its session was lost
// since, which released it. A failed release drops the session.
func (ss *session) unlock(conn *pgx.Conn, key int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.conn != conn {
		return
	}
	ss.held--
	_ = ss.run(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
		return err
	})
}

// run runs f on the session, bounded by sessionTimeout rather than by a
// caller's context: a statement cut short would end the session, and with
// it every lock of the store. A session that fails is dropped. ss.mu is
// held.
func (ss *session) run(f func(ctx context.Context, c *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	ss.used = true
	err := f(ctx, ss.conn)
	if err != nil {
		ss.drop()
	}
	return err
}

// drop closes the session, which releases its locks. ss.mu is held.
func (ss *session) drop() {
	ss.beat.Stop()
	closeConn(ss.conn)
	ss.conn, ss.held, ss.beat = nil, 0, nil
}

// closeConn closes c within sessionTimeout.
func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	_ = c.Close(ctx)
}
