package ultracart

// Tests of the background refresh, its backoff, the OnRefresh hook and the
// adoption of a stored token without the store's lock. Time is the test's
// clock; where a test must know that Token did not wait for a refresh, it
// holds the refresh request at a gate and sees Token return meanwhile.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/ultracarttest"
)

// gate is a transport that holds each request until the test lets it
// through, and counts the requests it saw.
type gate struct {
	base    http.RoundTripper
	arrived chan struct{} // one value per request
	open    chan struct{} // closed to let requests through
	n       atomic.Int32
}

func newGate() *gate {
	return &gate{base: http.DefaultTransport, arrived: make(chan struct{}, 1024), open: make(chan struct{})}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.n.Add(1)
	g.arrived <- struct{}{}
	select {
	case <-g.open:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.base.RoundTrip(r)
}

// context returns a context whose oauth2.HTTPClient goes through g.
func (g *gate) context() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: g})
}

// waitArrival waits for a request to reach g.
func (g *gate) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no request reached the gate")
	}
}

// tokenNow calls src.Token on another goroutine and requires that it
// returns while the refresh request is held at the gate: Token did not wait
// for the refresh.
func tokenNow(t *testing.T, src oauth2.TokenSource) *oauth2.Token {
	t.Helper()
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.tok
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Token waited for the refresh held at the gate")
	}
	return nil
}

// waitFlight waits for the flight in progress, if any, to end.
func waitFlight(t *testing.T, s *persistentSource) {
	t.Helper()
	s.mu.Lock()
	f := s.flight
	s.mu.Unlock()
	if f == nil {
		return
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the refresh did not end")
	}
}

// flying reports whether a flight is in progress.
func flying(s *persistentSource) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flight != nil
}

// bgSource returns a source over store on clock, with opts.
func bgSource(ctx context.Context, srv *ultracarttest.Server, store TokenStore, clock *psClock, opts *PersistentOptions) *persistentSource {
	s := newPersistentSource(ctx, psConfig(srv), store, opts)
	s.now = clock.now
	return s
}

// tokenExpiringIn returns a token the server issued, expiring d after the
// clock's now, with the lifetime lifetime (expires_in, 0 for unknown).
func tokenExpiringIn(srv *ultracarttest.Server, clock *psClock, d, lifetime time.Duration) *oauth2.Token {
	tok := *srv.IssueToken("")
	tok.Expiry = clock.now().Add(d)
	tok.ExpiresIn = int64(lifetime / time.Second)
	return &tok
}

func TestRefreshAheadWindowEdges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		left     time.Duration // before the token's expiry
		lifetime time.Duration // the token's expires_in; 0: unknown
		ahead    time.Duration // PersistentOptions.RefreshAhead
		noRT     bool          // the token has no refresh token
		want     string        // "keep": no refresh; "background"; "wait": the caller waits
	}{
		{name: "5m+1ns", left: 5*time.Minute + 1, lifetime: time.Hour, want: "keep"},
		{name: "5m", left: 5 * time.Minute, lifetime: time.Hour, want: "keep"},
		{name: "5m-1ns", left: 5*time.Minute - 1, lifetime: time.Hour, want: "background"},
		{name: "unknown lifetime, 5m-1ns", left: 5*time.Minute - 1, want: "background"},
		{name: "10s+1ns", left: 10*time.Second + 1, lifetime: time.Hour, want: "background"},
		{name: "10s", left: 10 * time.Second, lifetime: time.Hour, want: "background"},
		{name: "10s-1ns", left: 10*time.Second - 1, lifetime: time.Hour, want: "wait"},
		{name: "expired", left: -time.Minute, lifetime: time.Hour, want: "wait"},
		{name: "a lifetime of 2m: half of it, 1m+1ns", left: time.Minute + 1, lifetime: 2 * time.Minute, want: "keep"},
		{name: "a lifetime of 2m: half of it, 1m", left: time.Minute, lifetime: 2 * time.Minute, want: "keep"},
		{name: "a lifetime of 2m: half of it, 1m-1ns", left: time.Minute - 1, lifetime: 2 * time.Minute, want: "background"},
		{name: "a lifetime of 15s: no window", left: 10*time.Second + 1, lifetime: 15 * time.Second, want: "keep"},
		{name: "window 1m, 1m+1ns", left: time.Minute + 1, lifetime: time.Hour, ahead: time.Minute, want: "keep"},
		{name: "window 1m, 1m-1ns", left: time.Minute - 1, lifetime: time.Hour, ahead: time.Minute, want: "background"},
		{name: "window 5s, inside the early window", left: 5 * time.Second, lifetime: time.Hour, ahead: 5 * time.Second, want: "wait"},
		{name: "window 5s, 11s", left: 11 * time.Second, lifetime: time.Hour, ahead: 5 * time.Second, want: "keep"},
		{name: "disabled, 1m", left: time.Minute, lifetime: time.Hour, ahead: -1, want: "keep"},
		{name: "disabled, 10s-1ns", left: 10*time.Second - 1, lifetime: time.Hour, ahead: -1, want: "wait"},
		{name: "no refresh token, 1m", left: time.Minute, lifetime: time.Hour, noRT: true, want: "keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := psServer(t)
			clock := newPSClock()
			old := tokenExpiringIn(srv, clock, tc.left, tc.lifetime)
			if tc.noRT {
				old.RefreshToken = ""
			}
			store := newPSStore(old)
			g := newGate()
			src := bgSource(g.context(), srv, store, clock, &PersistentOptions{RefreshAhead: tc.ahead})

			if tc.want == "wait" {
				close(g.open)
				tok, err := src.Token()
				require.NoError(t, err)
				assert.NotEqual(t, old.AccessToken, tok.AccessToken, "the caller waited for the new token")
				assert.Equal(t, 1, srv.Stats().Rotations)
				assert.False(t, flying(src))
				return
			}
			// Two calls: the first loads the token, the second finds it in
			// the cache, which is where the window is checked.
			for range 2 {
				tok := tokenNow(t, src)
				assert.Equal(t, old.AccessToken, tok.AccessToken, "the still-valid token, at once")
			}
			if tc.want == "keep" {
				assert.False(t, flying(src), "no refresh runs")
				assert.Zero(t, g.n.Load())
				assert.Equal(t, []string{"load"}, store.takeOps())
				return
			}
			g.waitArrival(t)
			assert.True(t, flying(src), "a refresh runs in the background")
			tok := tokenNow(t, src)
			assert.Equal(t, old.AccessToken, tok.AccessToken, "still the old token while the refresh is held")
			close(g.open)
			waitFlight(t, src)
			assert.Equal(t, 1, srv.Stats().Rotations)
			assert.Equal(t, []string{"load", "load", "lock", "load", "save", "unlock"}, store.takeOps(),
				"the first load; then, in the background, a read without the lock and a refresh under it")
			tok, err := src.Token()
			require.NoError(t, err)
			assert.NotEqual(t, old.AccessToken, tok.AccessToken)
			assert.Equal(t, store.stored(t).AccessToken, tok.AccessToken, "saved before it was handed out")
			assert.Equal(t, int32(1), g.n.Load())
		})
	}
}

func TestRefreshAheadOneRefreshForManyCallers(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := tokenExpiringIn(srv, clock, time.Minute, time.Hour)
	store := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	require.NoError(t, store.Save(context.Background(), old))
	g := newGate()
	src := bgSource(g.context(), srv, store, clock, nil)
	_, err := src.Token()
	require.NoError(t, err)

	var wg sync.WaitGroup
	var stale atomic.Int32
	for range 100 {
		wg.Go(func() {
			for range 50 {
				tok, err := src.Token()
				if !assert.NoError(t, err) {
					return
				}
				if tok.AccessToken == old.AccessToken {
					stale.Add(1)
				}
			}
		})
	}
	wg.Wait() // every call returned while the one refresh is held
	assert.Equal(t, int32(100*50), stale.Load(), "every caller kept the still-valid token")
	g.waitArrival(t)
	assert.Equal(t, int32(1), g.n.Load(), "one background refresh however many callers")

	close(g.open)
	waitFlight(t, src)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, tok.AccessToken)
	assert.Equal(t, 1, srv.Stats().Rotations)
	assert.Equal(t, int32(1), g.n.Load())
}

func TestRefreshAheadFailingEndpoint(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := tokenExpiringIn(srv, clock, 2*time.Minute, time.Hour)
	store := newPSStore(old)
	// OnRefresh runs after the refresh's waiters are woken: the test waits
	// for the events themselves, not for the refresh.
	evs := make(chan RefreshEvent, 64)
	var events []RefreshEvent
	waitEvents := func(n int) {
		t.Helper()
		for len(events) < n {
			select {
			case e := <-evs:
				events = append(events, e)
			case <-time.After(10 * time.Second):
				require.FailNow(t, "missing events", "%d of %d", len(events), n)
			}
		}
		assert.Len(t, evs, 0, "no more events than refreshes")
	}
	src := bgSource(context.Background(), srv, store, clock, &PersistentOptions{OnRefresh: func(e RefreshEvent) { evs <- e }})
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable, Body: `{"error":"temporarily_unavailable"}`})

	attempts := func() int { return srv.Stats().Refresh }
	call := func() {
		t.Helper()
		tok, err := src.Token()
		require.NoError(t, err, "the error stays away while the token is usable")
		assert.Equal(t, old.AccessToken, tok.AccessToken)
		waitFlight(t, src)
		waitEvents(attempts())
	}
	call() // the first load
	require.Equal(t, 0, attempts())

	// Each failure doubles the pause before the next attempt: 1 s, 2 s, 4 s.
	call()
	assert.Equal(t, 1, attempts())
	for _, step := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1},
		{time.Second - 1, 1},
		{1, 2}, // 1 s after the first failure
		{2*time.Second - 1, 2},
		{1, 3}, // 2 s after the second
		{4*time.Second - 1, 3},
		{1, 4}, // 4 s after the third
	} {
		clock.add(step.wait)
		for range 10 { // however many calls
			call()
		}
		assert.Equal(t, step.want, attempts(), "after %v more", step.wait)
	}

	// Inside the early window, after the pause, the caller waits, and gets
	// the error; until the next pause (16 s) ends, callers get it at once.
	clock.ns.Store(old.Expiry.Add(-5 * time.Second).UnixNano())
	tok, err := src.Token()
	assert.Nil(t, tok)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Temporary())
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, 5, attempts())
	_, err2 := src.Token()
	assert.Same(t, err, err2, "the same error, at once")
	assert.Equal(t, 5, attempts())
	clock.add(16 * time.Second)
	_, err = src.Token()
	require.Error(t, err, "the first call after the pause tries again")
	assert.Equal(t, 6, attempts())

	srv.ClearFaults()
	clock.add(32 * time.Second)
	tok, err = src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, tok.AccessToken)
	assert.Equal(t, store.stored(t).AccessToken, tok.AccessToken)
	assert.True(t, src.retryAt.IsZero(), "a success ends the backoff")
	assert.Zero(t, src.failures)

	waitEvents(7)
	for i, ev := range events {
		switch {
		case i < 4:
			assert.True(t, ev.Background, "event %d", i)
			assert.Error(t, ev.Err)
		case i < 6:
			assert.False(t, ev.Background, "event %d", i)
			assert.Error(t, ev.Err)
		default:
			assert.False(t, ev.Background)
			assert.NoError(t, ev.Err)
			assert.True(t, ev.NewExpiry.Equal(tok.Expiry))
		}
		assert.True(t, ev.OldExpiry.Equal(old.Expiry), "event %d", i)
		if ev.Err != nil {
			require.ErrorAs(t, ev.Err, &e)
			assert.True(t, e.Temporary())
			assertNoSecrets(t, ev.Err, old)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 8: time.Minute, 1000: time.Minute} {
		assert.Equal(t, want, backoff(n), "failure %d", n)
	}
}

func TestRefreshHook(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	store := newPSStore(tokenExpiringIn(srv, clock, time.Hour, time.Hour))
	type call struct {
		ev       RefreshEvent
		unlocked bool // the store's lock was free during the call
		tok      *oauth2.Token
		tokErr   error
	}
	calls := make(chan call, 16)
	var src *persistentSource
	src = bgSource(context.Background(), srv, store, clock, &PersistentOptions{OnRefresh: func(e RefreshEvent) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := call{ev: e}
		if unlock, err := store.inner.Lock(ctx); err == nil {
			c.unlocked = true
			unlock()
		}
		if e.Err == nil {
			c.tok, c.tokErr = src.Token() // the hook may use the source
		}
		calls <- c
	}})
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			require.FailNow(t, "OnRefresh was not called")
		}
		return call{}
	}
	noCall := func() {
		t.Helper()
		select {
		case c := <-calls:
			assert.Fail(t, "an unexpected OnRefresh call", "%+v", c.ev)
		default:
		}
	}

	// The first load is not a refresh.
	first, err := src.Token()
	require.NoError(t, err)
	waitFlight(t, src)
	noCall()

	// A background refresh, with rotation.
	moveClock(srv, clock, first.Expiry.Add(-time.Minute))
	_, err = src.Token()
	require.NoError(t, err)
	c := next()
	assert.True(t, c.unlocked, "called once the store is unlocked")
	require.NoError(t, c.tokErr)
	assert.True(t, c.ev.Background)
	assert.True(t, c.ev.Rotated)
	assert.False(t, c.ev.Adopted)
	assert.NoError(t, c.ev.Err)
	assert.True(t, c.ev.OldExpiry.Equal(first.Expiry))
	second := store.stored(t)
	assert.True(t, c.ev.NewExpiry.Equal(second.Expiry))
	assert.Equal(t, second.AccessToken, c.tok.AccessToken, "the new token is published before the call")

	// A caller's refresh without rotation.
	srv.SetOptions(func() ultracarttest.Options { o := srv.Options(); o.KeepRefreshTokens = true; return o }())
	moveClock(srv, clock, second.Expiry.Add(time.Minute))
	third, err := src.Token()
	require.NoError(t, err)
	c = next()
	assert.False(t, c.ev.Background)
	assert.False(t, c.ev.Rotated)
	assert.True(t, c.ev.OldExpiry.Equal(second.Expiry))
	assert.True(t, c.ev.NewExpiry.Equal(third.Expiry))

	// An adoption: another source saved a new token.
	other := tokenExpiringIn(srv, clock, 2*time.Hour, time.Hour)
	require.NoError(t, store.inner.Save(context.Background(), other))
	moveClock(srv, clock, third.Expiry.Add(-time.Minute))
	_, err = src.Token()
	require.NoError(t, err)
	c = next()
	assert.True(t, c.ev.Adopted)
	assert.False(t, c.ev.Rotated)
	assert.True(t, c.ev.NewExpiry.Equal(other.Expiry))
	assert.Equal(t, other.AccessToken, c.tok.AccessToken)

	// A failure, with its class.
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"error":"invalid_grant","error_description":"revoked"}`, Times: 1})
	moveClock(srv, clock, other.Expiry.Add(time.Minute))
	_, err = src.Token()
	require.ErrorIs(t, err, ErrInvalidGrant)
	c = next()
	assert.ErrorIs(t, c.ev.Err, ErrInvalidGrant)
	assert.True(t, c.ev.NewExpiry.IsZero())
	assertNoSecrets(t, c.ev.Err, other)
	assert.NotContains(t, fmt.Sprintf("%+v", c.ev), other.AccessToken)
	assert.NotContains(t, fmt.Sprintf("%+v", c.ev), other.RefreshToken)
	noCall()
}

// TestRefreshHookPendingSave checks the events of a refresh whose rotated
// token could not be saved, and of the later save of that token.
func TestRefreshHookPendingSave(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	old := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(old)
	store.saveErrs = []error{errors.New("disk full")}
	events := make(chan RefreshEvent, 4)
	src := bgSource(context.Background(), srv, store, clock, &PersistentOptions{OnRefresh: func(e RefreshEvent) { events <- e }})
	next := func() RefreshEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			require.FailNow(t, "OnRefresh was not called")
		}
		return RefreshEvent{}
	}

	_, err := src.Token()
	require.ErrorIs(t, err, ErrPersist)
	e := next()
	assert.ErrorIs(t, e.Err, ErrPersist)
	assert.True(t, e.Rotated)
	assert.True(t, e.NewExpiry.IsZero(), "no new token was handed out")

	tok, err := src.Token()
	require.NoError(t, err)
	e = next()
	assert.NoError(t, e.Err)
	assert.True(t, e.Rotated)
	assert.False(t, e.Adopted)
	assert.True(t, e.NewExpiry.Equal(tok.Expiry))
	assert.Equal(t, 1, srv.Stats().Refresh, "saved, not refreshed again")
	select {
	case e := <-events:
		assert.Fail(t, "an unexpected event", "%+v", e)
	default:
	}
}

// moveClock sets clock to at, and makes the server issue tokens that live
// an hour by that clock.
func moveClock(srv *ultracarttest.Server, clock *psClock, at time.Time) {
	clock.ns.Store(at.UnixNano())
	o := srv.Options()
	o.TokenLifetime = time.Until(at) + time.Hour
	srv.SetOptions(o)
}

// peekOps returns what was done to the store so far, leaving it recorded.
func (s *psStore) peekOps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

// TestAdoptWithoutLock checks that a source whose token needs a refresh
// takes the token another process saved without waiting for the store's
// lock, which the test holds throughout; and that it locks only when that
// token too needs a refresh.
func TestAdoptWithoutLock(t *testing.T) {
	srv := psServer(t)
	clock := newPSClock()
	expired := psExpired(srv.IssueToken(""), clock.now())
	store := newPSStore(expired)
	src := psSource(context.Background(), psConfig(srv), store, clock)
	src.timeout = 10 * time.Second

	unlock, err := store.inner.Lock(context.Background())
	require.NoError(t, err)
	fresh := srv.IssueToken("")
	require.NoError(t, store.inner.Save(context.Background(), fresh))
	tok, err := src.Token()
	require.NoError(t, err, "adopted without the lock")
	assert.Equal(t, fresh.AccessToken, tok.AccessToken)
	assert.Equal(t, []string{"load"}, store.takeOps())
	assert.Zero(t, srv.Stats().Token)

	// The saved token expires too: now the source must lock, and waits.
	moveClock(srv, clock, fresh.Expiry.Add(time.Minute))
	done := make(chan error, 1)
	go func() {
		_, err := src.Token()
		done <- err
	}()
	require.Eventually(t, func() bool { return len(store.peekOps()) >= 1 }, 10*time.Second, time.Millisecond,
		"the read without the lock")
	select {
	case err := <-done:
		require.FailNow(t, "refreshed without the lock", "err: %v", err)
	default:
	}
	assert.Zero(t, srv.Stats().Token, "no refresh while another holds the lock")
	unlock()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"load", "lock", "load", "save", "unlock"}, store.takeOps())
	assert.Equal(t, 1, srv.Stats().Rotations)
}

// psHelperBackground loads a token that is due for a background refresh
// from the FileStore at path, prints "token HASH" with the token Token
// returned at once, and then waits, while its background refresh runs, to
// be killed.
func psHelperBackground(path, baseURL string) error {
	conf := &oauth2.Config{ClientID: psClientID, Endpoint: oauth2.Endpoint{
		TokenURL: baseURL + ultracarttest.TokenPath, AuthStyle: oauth2.AuthStyleInParams,
	}}
	src := PersistentTokenSource(context.Background(), conf, NewFileStore(path))
	for range 2 { // the first call loads, the second starts the refresh
		tok, err := src.Token()
		if err != nil {
			return err
		}
		fmt.Printf("token %s\n", psHash(tok.AccessToken))
	}
	select {}
}

// TestRefreshAheadProcessKilled kills a process in the middle of its
// background refresh, while it holds the FileStore's lock and the token
// endpoint holds its request: the file keeps the old token, whole; the lock
// is free; and another process (this one) refreshes once, in the
// background, and saves.
func TestRefreshAheadProcessKilled(t *testing.T) {
	srv := psServer(t)
	path := filepath.Join(t.TempDir(), "token.json")
	clock := newPSClock() // the helper uses the real clock: keep to it
	old := tokenExpiringIn(srv, clock, 2*time.Minute, time.Hour)
	require.NoError(t, NewFileStore(path).Save(context.Background(), old))
	// The helper's refresh request is held until its connection closes.
	srv.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Delay: time.Hour, Times: 1})

	h := startPSHelper(t, "background", "ULTRACART_PERSIST_PATH="+path, "ULTRACART_PERSIST_URL="+srv.URL)
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	})
	assert.Equal(t, "token "+psHash(old.AccessToken), h.line(t))
	assert.Equal(t, "token "+psHash(old.AccessToken), h.line(t), "the still-valid token, at once")
	require.Eventually(t, func() bool { return srv.Stats().Refresh == 1 }, 10*time.Second, time.Millisecond,
		"the helper's background refresh reaches the server")
	require.NoError(t, h.cmd.Process.Kill())

	stored, err := NewFileStore(path).Load(context.Background())
	require.NoError(t, err, "the file is whole")
	assert.Equal(t, old.AccessToken, stored.AccessToken)
	assert.Equal(t, old.RefreshToken, stored.RefreshToken)
	assert.Zero(t, srv.Stats().Rotations, "the held request changed nothing")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := NewFileStore(path).Lock(ctx)
	require.NoError(t, err, "the killed process's lock is gone")
	unlock()

	src := bgSource(context.Background(), srv, NewFileStore(path), clock, nil)
	for range 2 {
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, old.AccessToken, tok.AccessToken)
	}
	waitFlight(t, src)
	assert.Equal(t, 1, srv.Stats().Rotations)
	stored, err = NewFileStore(path).Load(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, stored.AccessToken)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, stored.AccessToken, tok.AccessToken)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"token.json", "token.json.lock"}, names)
}
