package ultracart

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	tailCallers  = 100                    // goroutines calling Token continuously
	tailDelay    = 500 * time.Millisecond // how long the token endpoint takes
	tailExpiries = 3                      // expiries per op
)

// BenchmarkExpiryTail measures what callers feel at each expiry: 100
// goroutines call Token continuously while a token endpoint on 127.0.0.1
// that takes 500 ms refreshes the token tailExpiries times. Each token
// lives a few seconds, so an op takes a few seconds. Per impl it reports:
//
//   - max-live-ns: the longest Token call made while the caller's token
//     still had time left, and p999-live-ns the 99.9th percentile of those
//     calls (to within 1/8, from a histogram): on a loaded machine the max
//     also catches the moments the whole process is not scheduled;
//   - blocked/refresh: calls that waited for a refresh (took over half the
//     endpoint's delay), per refresh request;
//   - refreshes/expiry: refresh requests per refresh token redeemed.
//
// impl=reuse is oauth2.ReuseTokenSource (through conf.TokenSource), the
// baseline; impl=memorystore and impl=filestore are PersistentTokenSource
// over a MemoryStore and over a FileStore; impl=newclient is the latter
// read as NewClient's transport reads it, without the copy of the token
// that Token makes for each caller (100 goroutines that do nothing else
// allocate fast enough for the garbage collector's assists to show in the
// tail). The callers yield between calls, see runTail. Compare with `benchstat -col /impl`.
func BenchmarkExpiryTail(b *testing.B) {
	// The persistent sources refresh 2 s ahead and stop handing a token out
	// 1 s before its expiry, for tokens that live 4 s: the defaults (5 min
	// ahead, 10 s early) would make each expiry last minutes.
	ahead := &PersistentOptions{EarlyExpiry: time.Second, RefreshAhead: 2 * time.Second}
	impls := []struct {
		name     string
		lifetime time.Duration // of each token the server issues: whole seconds
		new      func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource
	}{
		// oauth2.ReuseTokenSource refreshes 10 s before the expiry.
		{"reuse", 11 * time.Second, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			return conf.TokenSource(context.Background(), seed)
		}},
		{"memorystore", 4 * time.Second, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			return PersistentTokenSourceWithOptions(context.Background(), conf, NewMemoryStore(seed), ahead)
		}},
		{"filestore", 4 * time.Second, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			return PersistentTokenSourceWithOptions(context.Background(), conf, tailFileStore(b, seed), ahead)
		}},
		// What NewClient's transport reads for each request: the cached
		// token itself, without the copy Token makes for its caller.
		{"newclient", 4 * time.Second, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			src := PersistentTokenSourceWithOptions(context.Background(), conf, tailFileStore(b, seed), ahead)
			return sharedSource{src.(sharedTokenSource)}
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			srv := newTailServer(b, impl.lifetime)
			conf := &oauth2.Config{ClientID: "bench-client", Endpoint: EndpointAt(srv.URL + "/rest/v2")}
			var sum tailResult
			for b.Loop() {
				srv.reset()
				seed := &oauth2.Token{AccessToken: "at-0", TokenType: "Bearer", RefreshToken: "rt-0", Expiry: time.Now().Add(impl.lifetime), ExpiresIn: int64(impl.lifetime / time.Second)}
				r := runTail(b, impl.new(b, conf, seed))
				r.requests, r.redeemed = srv.counts()
				sum.add(r)
			}
			sum.report(b)
		})
	}
}

// tailFileStore returns a FileStore holding seed.
func tailFileStore(b *testing.B, seed *oauth2.Token) *FileStore {
	store := NewFileStore(filepath.Join(b.TempDir(), "token.json"))
	if err := store.Save(context.Background(), seed); err != nil {
		b.Fatal(err)
	}
	return store
}

// sharedSource is a TokenSource made of a sharedToken method.
type sharedSource struct{ s sharedTokenSource }

func (s sharedSource) Token() (*oauth2.Token, error) { return s.s.sharedToken() }

// tailServer is a token endpoint that takes tailDelay to redeem rt-N for
// at-(N+1) and rt-(N+1), in RFC 6749 form, each living lifetime.
type tailServer struct {
	*httptest.Server
	lifetime time.Duration

	mu       sync.Mutex
	requests int
	redeemed map[string]bool
}

func newTailServer(b *testing.B, lifetime time.Duration) *tailServer {
	s := &tailServer{lifetime: lifetime, redeemed: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	b.Cleanup(s.Close)
	return s
}

func (s *tailServer) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	old := r.PostForm.Get("refresh_token")
	n, err := strconv.Atoi(strings.TrimPrefix(old, "rt-"))
	if err != nil {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	s.redeemed[old] = true
	s.mu.Unlock()
	select {
	case <-time.After(tailDelay):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","refresh_token":"rt-%d","expires_in":%d}`, n+1, n+1, int(s.lifetime.Seconds()))
}

func (s *tailServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = 0
	clear(s.redeemed)
}

func (s *tailServer) counts() (requests, redeemed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, len(s.redeemed)
}

// tailResult is what the callers of one op saw.
type tailResult struct {
	calls    int64
	live     latencies     // the calls made while the caller's token had time left
	maxLive  time.Duration // the longest of them
	blocked  int64         // calls that waited for a refresh
	requests int           // refresh requests the server received
	redeemed int           // distinct refresh tokens redeemed
}

func (r *tailResult) add(o tailResult) {
	r.calls += o.calls
	r.live.merge(&o.live)
	r.maxLive = max(r.maxLive, o.maxLive)
	r.blocked += o.blocked
	r.requests += o.requests
	r.redeemed += o.redeemed
}

func (r *tailResult) report(b *testing.B) {
	b.ReportMetric(float64(r.maxLive.Nanoseconds()), "max-live-ns")
	b.ReportMetric(float64(r.live.quantile(0.999).Nanoseconds()), "p999-live-ns")
	b.ReportMetric(float64(r.blocked)/float64(max(r.requests, 1)), "blocked/refresh")
	b.ReportMetric(float64(r.requests)/float64(max(r.redeemed, 1)), "refreshes/expiry")
}

// runTail runs tailCallers goroutines calling src.Token until one of them
// gets the token of the last expiry, at-tailExpiries.
func runTail(b *testing.B, src oauth2.TokenSource) tailResult {
	last := fmt.Sprintf("at-%d", tailExpiries)
	var (
		stop    atomic.Bool
		failed  atomic.Pointer[error]
		reached atomic.Bool
		wg      sync.WaitGroup
		results = make([]tailResult, tailCallers)
	)
	deadline := time.Now().Add(time.Duration(tailExpiries)*(tailDelay+20*time.Second) + 10*time.Second)
	for g := range tailCallers {
		wg.Go(func() {
			r := &results[g]
			var held *oauth2.Token
			for !stop.Load() {
				start := time.Now()
				tok, err := src.Token()
				d := time.Since(start)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					stop.Store(true)
					return
				}
				r.calls++
				if held != nil && start.Before(held.Expiry) {
					r.live.add(d)
					r.maxLive = max(r.maxLive, d)
				}
				if d > tailDelay/2 {
					r.blocked++
				}
				held = tok
				// Yield between calls, as a caller that does anything
				// else with the token would: 100 goroutines that never
				// yield make each other wait up to a whole round of 10 ms
				// time slices, and that wait is the scheduler's, not the
				// source's.
				runtime.Gosched()
				if tok.AccessToken == last {
					reached.Store(true)
					stop.Store(true)
				}
				if start.After(deadline) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	if !reached.Load() {
		b.Fatalf("no caller got %s before the deadline", last)
	}
	var sum tailResult
	for _, r := range results {
		sum.add(r)
	}
	return sum
}

// latencies is a histogram of durations with 8 buckets per power of two.
type latencies struct {
	n       int64
	buckets [64 * 8]int64
}

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 1))
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	if e < 3 {
		return int(v)
	}
	return e*8 + int(v>>(e-3))&7
}

// upper is the largest duration of bucket i.
func upper(i int) time.Duration {
	if i < 8*3 {
		return time.Duration(i)
	}
	e, m := i/8, i%8
	return time.Duration((uint64(8+m+1) << (e - 3)) - 1)
}

func (l *latencies) add(d time.Duration) {
	l.n++
	l.buckets[bucketOf(d)]++
}

func (l *latencies) merge(o *latencies) {
	l.n += o.n
	for i, c := range o.buckets {
		l.buckets[i] += c
	}
}

// quantile returns the upper bound of the bucket that holds quantile q.
func (l *latencies) quantile(q float64) time.Duration {
	want := int64(math.Ceil(q * float64(l.n)))
	var seen int64
	for i, c := range l.buckets {
		seen += c
		if seen >= want && c > 0 {
			return upper(i)
		}
	}
	return 0
}
