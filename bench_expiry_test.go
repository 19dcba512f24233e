package ultracart_test

import (
	"context"
	"fmt"
	"math"
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

	"github.com/ultracart-go/ultracart"
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
// lives one second past the point from which its source refreshes it
// (lead), so an op takes a few seconds. Per impl it reports:
//
//   - max-live-ns: the longest Token call made while the caller's token
//     still had time left;
//   - blocked/refresh: calls that waited for a refresh (took over half the
//     endpoint's delay), per refresh request;
//   - refreshes/expiry: refresh requests per refresh token redeemed.
//
// impl=reuse is oauth2.ReuseTokenSource (through conf.TokenSource), the
// baseline; impl=memorystore and impl=filestore are PersistentTokenSource
// over a MemoryStore and over a FileStore. The callers yield between calls, see runTail. Compare with `benchstat -col /impl`.
func BenchmarkExpiryTail(b *testing.B) {
	impls := []struct {
		name string
		lead time.Duration // how long before expiry the source refreshes
		new  func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource
	}{
		{"reuse", 10 * time.Second, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			return conf.TokenSource(context.Background(), seed)
		}},
		{"memorystore", ultracart.DefaultExpiryDelta, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			return ultracart.PersistentTokenSource(context.Background(), conf, ultracart.NewMemoryStore(seed))
		}},
		{"filestore", ultracart.DefaultExpiryDelta, func(b *testing.B, conf *oauth2.Config, seed *oauth2.Token) oauth2.TokenSource {
			store := ultracart.NewFileStore(filepath.Join(b.TempDir(), "token.json"))
			if err := store.Save(context.Background(), seed); err != nil {
				b.Fatal(err)
			}
			return ultracart.PersistentTokenSource(context.Background(), conf, store)
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			srv := newTailServer(b, impl.lead)
			conf := &oauth2.Config{ClientID: "bench-client", Endpoint: ultracart.EndpointAt(srv.URL + "/rest/v2")}
			var sum tailResult
			for b.Loop() {
				srv.reset()
				seed := &oauth2.Token{AccessToken: "at-0", TokenType: "Bearer", RefreshToken: "rt-0", Expiry: time.Now().Add(srv.lifetime())}
				r := runTail(b, impl.new(b, conf, seed))
				r.requests, r.redeemed = srv.counts()
				sum.add(r)
			}
			sum.report(b)
		})
	}
}

// tailServer is a token endpoint that takes tailDelay to redeem rt-N for
// at-(N+1) and rt-(N+1), in RFC 6749 form, each living lead plus 1 s.
type tailServer struct {
	*httptest.Server
	lead time.Duration

	mu       sync.Mutex
	requests int
	redeemed map[string]bool
}

func newTailServer(b *testing.B, lead time.Duration) *tailServer {
	s := &tailServer{lead: lead, redeemed: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	b.Cleanup(s.Close)
	return s
}

// lifetime is how long each token lives: whole seconds, as expires_in is.
func (s *tailServer) lifetime() time.Duration {
	return time.Duration(math.Ceil(s.lead.Seconds())+1) * time.Second
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
	fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","refresh_token":"rt-%d","expires_in":%d}`, n+1, n+1, int(s.lifetime().Seconds()))
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
	maxLive  time.Duration // the longest call while the caller's token had time left
	blocked  int64         // calls that waited for a refresh
	requests int           // refresh requests the server received
	redeemed int           // distinct refresh tokens redeemed
}

func (r *tailResult) add(o tailResult) {
	r.calls += o.calls
	r.maxLive = max(r.maxLive, o.maxLive)
	r.blocked += o.blocked
	r.requests += o.requests
	r.redeemed += o.redeemed
}

func (r *tailResult) report(b *testing.B) {
	b.ReportMetric(float64(r.maxLive.Nanoseconds()), "max-live-ns")
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
