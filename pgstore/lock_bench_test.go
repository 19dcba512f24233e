package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// herdEndpoint is a token endpoint that answers after a set latency and
// rotates refresh tokens: a refresh token works once, and is used up as
// its request arrives, so that an answer the client gives up on is a grant
// lost, as with UltraCart.
type herdEndpoint struct {
	latency time.Duration

	mu       sync.Mutex
	owner    map[string]string // refresh token: merchant, for every token issued
	live     map[string]string // merchant: the refresh token that works
	requests map[string]int    // merchant: token requests
	refused  int               // requests with a used refresh token
	issued   int
}

func newHerdEndpoint(latency time.Duration) *herdEndpoint {
	return &herdEndpoint{latency: latency, owner: map[string]string{}, live: map[string]string{}, requests: map[string]int{}}
}

// seed returns merchant's first token, expired or not.
func (e *herdEndpoint) seed(merchant string, expiry time.Time) *oauth2.Token {
	rt := "rt-" + merchant + "-0"
	e.owner[rt], e.live[merchant] = merchant, rt
	return &oauth2.Token{AccessToken: "at-" + merchant + "-0", TokenType: "bearer", RefreshToken: rt, Expiry: expiry}
}

func (e *herdEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := r.PostFormValue("refresh_token")
	e.mu.Lock()
	m := e.owner[rt]
	e.requests[m]++
	ok := m != "" && e.live[m] == rt
	var next string
	if ok {
		e.issued++
		next = fmt.Sprintf("rt-%s-%d", m, e.issued)
		e.owner[next], e.live[m] = m, next
	} else {
		e.refused++
	}
	e.mu.Unlock()
	select {
	case <-time.After(e.latency):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant"}`)
		return
	}
	fmt.Fprintf(w, `{"access_token":"at-%s","token_type":"bearer","expires_in":"3600","refresh_token":%q}`, next, next)
}

// seedRows writes the tokens in one statement.
func seedRows(b *testing.B, s *Store, toks map[string]*oauth2.Token) {
	var merchants, tokens []string
	for m, tok := range toks {
		j, err := json.Marshal(tokenJSON{Token: *tok})
		require.NoError(b, err)
		merchants, tokens = append(merchants, m), append(tokens, string(j))
	}
	_, err := s.pool.Exec(context.Background(), `INSERT INTO `+s.quoted+` (merchant, token, version)
SELECT m, t::json, 1 FROM unnest($1::text[], $2::text[]) AS u(m, t)`, merchants, tokens)
	require.NoError(b, err)
}

// BenchmarkHerd measures a refresh herd (every replica finds every stored
// token expired: a cold start, an outage longer than a token's life):
// merchants expired merchants, replicas Merchants over separate pools of
// pgxpool's default size in this process, 64 callers per replica asking
// for every merchant (replica r starting at the r-th share), and a token
// endpoint on 127.0.0.1 that answers after latency and rotates refresh
// tokens. Meanwhile a probe per replica asks for healthy merchants (valid
// tokens) that replica has not seen yet. Run it with
//
//	go test -run '^$' -bench Herd -benchtime 1x
//
// It reports the time until every replica has every merchant's token
// (herd-s) beside callers × latency (ideal-s), token requests per merchant
// (the fewest and the most: both must be 1), the most pool connections in
// use and server connections open at once (pools and lock sessions), the
// probe's latencies before the herd (quiet) and during it, grants lost (a
// merchant whose stored refresh token is not the one that works) and
// failed requests.
func BenchmarkHerd(b *testing.B) {
	for _, c := range []struct {
		merchants, replicas int
		latency             time.Duration
	}{
		{1000, 1, 200 * time.Millisecond},
		{1000, 4, 200 * time.Millisecond},
		{5000, 1, 200 * time.Millisecond},
		{5000, 4, 200 * time.Millisecond},
		{1000, 1, 2 * time.Second},
	} {
		b.Run(fmt.Sprintf("n=%d/r=%d/latency=%v", c.merchants, c.replicas, c.latency), func(b *testing.B) {
			for range b.N {
				herd(b, c.merchants, c.replicas, c.latency)
			}
		})
	}
}

func herd(b *testing.B, n, replicas int, latency time.Duration) {
	const callers, quiet, probes = 64, 50, 200
	ideal := time.Duration(n) * latency / time.Duration(callers*replicas)
	e := newHerdEndpoint(latency)
	srv := httptest.NewServer(e)
	defer srv.Close()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers * replicas}})
	conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}

	pools := make([]*pgxpool.Pool, replicas)
	stores := make([]*Store, replicas)
	for r := range replicas {
		pools[r] = needPG(b, 0)
		if r == 0 {
			stores[r] = newStore(b, pools[r], Options{})
		} else {
			stores[r] = New(pools[r], Options{Table: stores[0].table})
		}
	}
	toks := map[string]*oauth2.Token{}
	expired := make([]string, n)
	for i := range expired {
		expired[i] = fmt.Sprintf("E%05d", i)
		toks[expired[i]] = e.seed(expired[i], time.Now().Add(-time.Hour))
	}
	healthy := func(r, i int) string { return fmt.Sprintf("H%d-%04d", r, i) }
	for r := range replicas {
		for i := range quiet + probes {
			toks[healthy(r, i)] = e.seed(healthy(r, i), time.Now().Add(time.Hour))
		}
	}
	seedRows(b, stores[0], toks)

	var failed atomic.Int64
	get := func(m *ultracart.Merchants, merchant string) time.Duration {
		start := time.Now()
		if _, err := m.TokenSource(merchant).Token(); err != nil {
			failed.Add(1)
			b.Logf("%s: %v", merchant, err)
		}
		return time.Since(start)
	}
	merchants := make([]*ultracart.Merchants, replicas)
	var quietLat []time.Duration
	for r := range replicas {
		merchants[r] = ultracart.NewMerchants(ctx, conf, stores[r].For)
		for i := range quiet {
			quietLat = append(quietLat, get(merchants[r], healthy(r, i)))
		}
	}

	// Connections: the most in use at once, and open on the server.
	var inUse, open int32
	sample := func() {
		var use, all int32
		for r, p := range pools {
			st := p.Stat()
			use += st.AcquiredConns()
			all += st.TotalConns()
			stores[r].sess.mu.Lock()
			if stores[r].sess.conn != nil {
				use, all = use+1, all+1
			}
			stores[r].sess.mu.Unlock()
		}
		inUse, open = max(inUse, use), max(open, all)
	}
	done := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Go(func() {
		for {
			sample()
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	var mu sync.Mutex
	var herdLat []time.Duration
	pause := max(5*time.Millisecond, ideal/probes)
	for r := range replicas {
		watchers.Go(func() {
			for i := quiet; i < quiet+probes; i++ {
				d := get(merchants[r], healthy(r, i))
				mu.Lock()
				herdLat = append(herdLat, d)
				mu.Unlock()
				select {
				case <-done:
					return
				case <-time.After(pause):
				}
			}
		})
	}

	start := time.Now()
	var wg sync.WaitGroup
	for r := range replicas {
		var next atomic.Int64
		for range callers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
					get(merchants[r], expired[(int(i)+r*n/replicas)%n])
				}
			})
		}
	}
	wg.Wait()
	took := time.Since(start)
	close(done)
	watchers.Wait()

	e.mu.Lock()
	defer e.mu.Unlock()
	lost, fewest, most := 0, n, 0
	for _, m := range expired {
		got, err := stores[0].For(m).Load(context.Background())
		if err != nil || got.RefreshToken != e.live[m] {
			lost++
		}
		fewest, most = min(fewest, e.requests[m]), max(most, e.requests[m])
	}
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(took.Seconds(), "herd-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(took.Seconds()/ideal.Seconds(), "x-ideal")
	b.ReportMetric(float64(fewest), "requests/merchant-min")
	b.ReportMetric(float64(most), "requests/merchant-max")
	b.ReportMetric(float64(inUse), "conns-in-use-max")
	b.ReportMetric(float64(open), "conns-open-max")
	b.ReportMetric(pct(quietLat, 0.5), "quiet-p50-ms")
	b.ReportMetric(pct(quietLat, 0.99), "quiet-p99-ms")
	b.ReportMetric(pct(herdLat, 0.5), "healthy-p50-ms")
	b.ReportMetric(pct(herdLat, 0.99), "healthy-p99-ms")
	b.ReportMetric(float64(len(herdLat)), "healthy-probes")
	b.ReportMetric(float64(lost), "grants-lost")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(e.refused), "refused")
}
