package pgstore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
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

// The replicas of these tests are the test binary itself, run again with
// childEnv naming their role; TestMain hands them to runChild.
const (
	childEnv     = "PGSTORE_TEST_CHILD"
	childTable   = "PGSTORE_TEST_TABLE"
	childServer  = "PGSTORE_TEST_SERVER"
	childCount   = "PGSTORE_TEST_MERCHANTS"
	childClient  = "replica-test"
	childLockKey = "PGSTORE_TEST_MERCHANT"
	childIdle    = "PGSTORE_TEST_LOCK_IDLE" // the holder's lock idle timeout
)

// round is what a refreshing replica reports for one round.
type round struct {
	Tokens map[string]string `json:"tokens"` // merchant: access token
	Waits  []int64           `json:"waits"`  // nanoseconds each Lock call waited
	Errors []string          `json:"errors"`
}

func merchantName(i int) string { return fmt.Sprintf("M%03d", i) }

// runChild runs a replica: "refresher" serves a round of every merchant per
// line on stdin; "holder" takes the locks of the merchants childLockKey
// lists (separated by commas), says "locked" and
// waits to be killed.
func runChild(role string) int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("ULTRACART_PG_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer pool.Close()
	store := New(pool, Options{Table: os.Getenv(childTable)})
	switch role {
	case "holder":
		if d, err := time.ParseDuration(os.Getenv(childIdle)); err == nil {
			store.sess.idle = d
		}
		for _, m := range strings.Split(os.Getenv(childLockKey), ",") {
			if _, err := store.For(m).(ultracart.Locker).Lock(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin) // until killed
		return 0
	case "refresher":
		n, _ := strconv.Atoi(os.Getenv(childCount))
		srv := os.Getenv(childServer)
		conf := &oauth2.Config{ClientID: childClient, Endpoint: oauth2.Endpoint{TokenURL: srv + ultracarttest.TokenPath, AuthStyle: oauth2.AuthStyleInParams}}
		in := bufio.NewScanner(os.Stdin)
		enc := json.NewEncoder(os.Stdout)
		for in.Scan() {
			var mu sync.Mutex
			r := round{Tokens: map[string]string{}}
			merchants := ultracart.NewMerchants(ctx, conf, func(merchant string) ultracart.TokenStore {
				return &timedStore{TokenStore: store.For(merchant), mu: &mu, waits: &r.Waits}
			})
			var wg sync.WaitGroup
			for i := range n {
				for range 2 { // two callers per merchant in each replica
					wg.Go(func() {
						m := merchantName(i)
						resp, err := merchants.Client(m).Get(srv + ultracarttest.ItemsPath)
						if err == nil {
							err = ultracart.CheckResponse(resp)
							resp.Body.Close()
						}
						tok, terr := merchants.TokenSource(m).Token()
						mu.Lock()
						defer mu.Unlock()
						if err == nil {
							err = terr
						}
						if err != nil {
							r.Errors = append(r.Errors, m+": "+err.Error())
							return
						}
						if prev, ok := r.Tokens[m]; ok && prev != tok.AccessToken {
							r.Errors = append(r.Errors, m+": two tokens in one replica")
						}
						r.Tokens[m] = tok.AccessToken
					})
				}
			}
			wg.Wait()
			if err := enc.Encode(r); err != nil {
				return 2
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}

// timedStore records how long each Lock call waits.
type timedStore struct {
	ultracart.TokenStore
	mu    *sync.Mutex
	waits *[]int64
}

func (s *timedStore) Lock(ctx context.Context) (func(), error) {
	start := time.Now()
	unlock, err := s.TokenStore.(ultracart.Locker).Lock(ctx)
	d := time.Since(start)
	s.mu.Lock()
	*s.waits = append(*s.waits, int64(d))
	s.mu.Unlock()
	return unlock, err
}

// child is a running replica.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr *strings.Builder
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// Under -race, a process that exits sleeps a second unless GORACE says otherwise.
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role, "ULTRACART_PG_URL=" + pgURL, "GORACE=atexit_sleep_ms=0"}, env...)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(stdout), stderr: &strings.Builder{}}
	c.stdout.Buffer(nil, 16<<20)
	cmd.Stderr = c.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	require.True(t, c.stdout.Scan(), "the replica said nothing: %v %s", c.stdout.Err(), c.stderr.String())
	return c.stdout.Text()
}

// TestReplicas runs 4 processes against 50 merchants in one table, for two
// expiries, against a fake UltraCart that rotates refresh tokens: each
// expiry makes exactly one refresh per merchant, and every process ends
// with the token saved in the table. Run with -v for the lock waits.
func TestReplicas(t *testing.T) {
	t.Parallel() // it waits more than it computes
	const procs, n, rounds = 4, 20, 2
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	srv := ultracarttest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	seeds := make(map[string]string, n) // merchant: the refresh token of this round
	for i := range n {
		tok := srv.IssueToken("")
		tok.Expiry = time.Now().Add(-time.Hour)
		require.NoError(t, s.For(merchantName(i)).Save(ctx, tok))
		seeds[merchantName(i)] = tok.RefreshToken
	}
	children := make([]*child, procs)
	for p := range children {
		children[p] = startChild(t, "refresher", childTable+"="+s.table, childServer+"="+srv.URL, childCount+"="+strconv.Itoa(n))
	}
	var waits []int64
	for rnd := range rounds {
		seen := len(srv.Requests())
		for _, c := range children {
			_, err := io.WriteString(c.stdin, "go\n")
			require.NoError(t, err)
		}
		reports := make([]round, procs)
		for p, c := range children {
			require.NoError(t, json.Unmarshal([]byte(c.line(t)), &reports[p]))
			assert.Empty(t, reports[p].Errors, "replica %d, round %d", p, rnd)
			waits = append(waits, reports[p].Waits...)
		}
		// Exactly one refresh per merchant: each refresh token of the
		// round was sent once, and no other.
		var sent []string
		for _, r := range srv.Requests()[seen:] {
			if r.Path == ultracarttest.TokenPath {
				assert.Equal(t, "refresh_token", r.Form.Get("grant_type"))
				sent = append(sent, r.Form.Get("refresh_token"))
			}
		}
		want := make([]string, 0, n)
		for _, rt := range seeds {
			want = append(want, rt)
		}
		assert.ElementsMatch(t, want, sent, "round %d: one refresh per merchant", rnd)
		t.Logf("round %d: %d refreshes for %d merchants (%.2f per merchant) by %d processes", rnd, len(sent), n, float64(len(sent))/n, procs)

		// Every process holds the saved token.
		for i := range n {
			m := merchantName(i)
			saved, err := s.For(m).Load(ctx)
			require.NoError(t, err)
			for p := range reports {
				assert.Equal(t, saved.AccessToken, reports[p].Tokens[m], "round %d, replica %d, merchant %s", rnd, p, m)
			}
			assert.NotEqual(t, seeds[m], saved.RefreshToken, "rotated")
			// The next expiry.
			seeds[m] = saved.RefreshToken
			saved.Expiry = time.Now().Add(-time.Hour)
			require.NoError(t, s.For(m).Save(ctx, saved))
		}
	}
	for _, c := range children {
		require.NoError(t, c.stdin.Close())
	}
	for _, c := range children {
		require.NoError(t, c.cmd.Wait(), c.stderr.String())
	}
	slices.Sort(waits)
	require.NotEmpty(t, waits)
	pct := func(p float64) time.Duration { return time.Duration(waits[int(p*float64(len(waits)-1))]) }
	t.Logf("lock waits over %d Lock calls of %d processes: p50 %v, p99 %v, max %v", len(waits), procs, pct(0.50), pct(0.99), time.Duration(waits[len(waits)-1]))
}

// TestKilledHolder kills (SIGKILL) a process while it holds the locks of
// 100 merchants: the server ends its session, and the others get every one
// of them at once.
func TestKilledHolder(t *testing.T) {
	t.Parallel() // it waits more than it computes
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	merchants := make([]string, 100)
	for i := range merchants {
		merchants[i] = merchantName(i)
	}
	holder := startChild(t, "holder", childTable+"="+s.table, childLockKey+"="+strings.Join(merchants, ","))
	require.Equal(t, "locked", holder.line(t))

	for _, m := range []string{merchants[0], merchants[99]} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		unlock, err := s.For(m).(ultracart.Locker).Lock(ctx)
		cancel()
		if err == nil {
			unlock()
		}
		require.ErrorIs(t, err, context.DeadlineExceeded, "the holder has the lock of %s", m)
	}

	killed := time.Now()
	require.NoError(t, holder.cmd.Process.Kill())
	ctx, cancel := context.WithTimeout(context.Background(), 2*LockIdleTimeout)
	defer cancel()
	var first time.Duration
	for i, m := range merchants {
		unlock, err := s.For(m).(ultracart.Locker).Lock(ctx)
		require.NoError(t, err)
		unlock()
		if i == 0 {
			first = time.Since(killed)
		}
	}
	all := time.Since(killed)
	t.Logf("a SIGKILLed holder's locks were free after %v (the first), %v (all %d, taken one after another)", first, all, len(merchants))
	assert.Less(t, all, 5*time.Second, "the server frees a dead process's locks at once")
}
