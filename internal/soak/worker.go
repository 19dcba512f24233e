package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// A worker writes one event per line on its stdout, for the supervisor.
// The events about tokens end with the time, in Unix nanoseconds:
//
//	R+ m fp             a refresh of merchant m with the refresh token of fingerprint fp starts
//	R- m fp status new  it ended: HTTP status (0: no answer), the new refresh token's fingerprint
//	G m fp              the token endpoint answered invalid_grant to that refresh
//	S+ m fp             a save of the token whose refresh token has fingerprint fp starts
//	SF m fp lost|kept   a save fault was injected in it: the save fails, and the
//	                    token did not reach the store (lost) or did (kept)
//	S- m fp ok|err      it ended
//	LF m                a load fault was injected: a Load of m's store failed
//	D m fp              Merchants dropped m's idle source (seen when it is built
//	                    again), which held the token of fingerprint fp waiting to
//	                    be saved ("-": none); its time is the earliest the drop
//	                    can have happened
//	Q m until           m goes quiet for every worker until then, since a token
//	                    of m waits to be saved here (see attack.go)
//	U m rate|storm      the REST resource's answer to a call for m was replaced
//	                    by a 401, at random or in a storm on m
//	E m class           OnRefresh saw a refresh of m fail: persist,
//	                    invalid_grant, temporary or other
//	OK n                n more API calls succeeded
//	F reason            an API call failed, for reason
//
// A fingerprint is the first 32 bits of the SHA-256 of a token, enough to
// follow one token through a trace and useless to an attacker.

// fingerprint returns the fingerprint of a secret, or "-" for none.
func fingerprint(secret string) string {
	if secret == "" {
		return "-"
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// events writes event lines to the supervisor, one write per line.
type events struct {
	mu sync.Mutex
	w  io.Writer
}

// emit writes one event. Events about tokens end with the wall-clock time
// in Unix nanoseconds, so that the supervisor can order the events of
// different workers.
func (e *events) emit(format string, args ...any) {
	line := fmt.Sprintf(format+"\n", args...)
	if strings.ContainsAny(format[:1], "RSGU") {
		line = fmt.Sprintf(format+" %d\n", append(args, time.Now().UnixNano())...)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = io.WriteString(e.w, line)
}

// tracer is the transport of the token requests: it reports the refreshes
// it carries to the supervisor. Its merchant is fixed, or else (merchant -1)
// told by the refresh token, which the merchant's store loaded or saved
// first (see tracedStore). With attacks, it answers some API calls 401 in
// place of the REST resource (see reject401).
type tracer struct {
	merchant int
	owners   *owners // when merchant is -1
	ev       *events
	base     http.RoundTripper
	attacks  *attacks // nil: no 401 is injected
	rate401  float64
}

// owners maps the fingerprints of refresh tokens to their merchants, for
// a transport shared by every merchant.
type owners struct {
	mu sync.Mutex
	m  map[string]int
}

func (o *owners) set(fp string, merchant int) {
	if o == nil || fp == "-" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[fp] = merchant
}

func (o *owners) get(fp string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m, ok := o.m[fp]; ok {
		return m
	}
	return -1
}

func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	if resp, ok := t.reject401(req); ok {
		return resp, nil
	}
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, fakeuc.TokenPath) || req.Body == nil {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(body))
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	fp := fingerprint(form.Get("refresh_token"))
	merchant := t.merchant
	if merchant < 0 {
		merchant = t.owners.get(fp)
	}
	t.ev.emit("R+ %d %s", merchant, fp)
	resp, err := t.base.RoundTrip(r2)
	if err != nil {
		t.ev.emit("R- %d %s 0 -", merchant, fp)
		return nil, err
	}
	// Read the answer whole, so that the event tells what the client got.
	rb, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.ev.emit("R- %d %s 0 -", merchant, fp)
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	newFP := "-"
	if resp.StatusCode == http.StatusOK {
		if i := bytes.Index(rb, []byte(`"refresh_token":"`)); i >= 0 {
			rest := rb[i+len(`"refresh_token":"`):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				newFP = fingerprint(string(rest[:j]))
			}
		}
	}
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(rb, []byte(fakeuc.CodeInvalidGrant)) {
		t.ev.emit("G %d %s", merchant, fp)
	}
	t.owners.set(newFP, merchant)
	t.ev.emit("R- %d %s %d %s", merchant, fp, resp.StatusCode, newFP)
	return resp, nil
}

// tracedStore is a FileStore that reports its saves, and tells owners the
// merchant of each refresh token it loads or saves. It keeps the Locker.
// It fails Loads and Saves at the rates of faults, as a database blip
// would; a failed Save reached the store (kept) or not (lost) at even odds.
// It follows what its source keeps waiting to be saved after a lost one,
// as the library does (see pending).
type tracedStore struct {
	fs       *ultracart.FileStore
	merchant int
	owners   *owners
	ev       *events
	faults   storeFaults

	mu          sync.Mutex
	loaded      string // the refresh token of the token last loaded
	pending     string // the fingerprint of the token waiting to be saved, or ""
	pendingBase string // the refresh token loaded before that token's failed save
}

// storeFaults are the rates of injected store faults, and what to do after
// a save fault that left a token waiting to be saved.
type storeFaults struct {
	load, save float64
	lost       func(merchant int) // nil: nothing
}

var errStoreFault = errors.New("soak: injected store fault")

func (s *tracedStore) Lock(ctx context.Context) (func(), error) { return s.fs.Lock(ctx) }

func (s *tracedStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if s.faults.load > 0 && rand.Float64() < s.faults.load {
		s.ev.emit("LF %d", s.merchant)
		return nil, errStoreFault
	}
	t, err := s.fs.Load(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.owners.set(fingerprint(t.RefreshToken), s.merchant)
		s.loaded = t.RefreshToken
		if t.RefreshToken != s.pendingBase {
			s.pending = "" // another grant is stored: the library drops the waiting token
		}
	case errors.Is(err, ultracart.ErrNoToken):
		s.pending = ""
	}
	return t, err
}

func (s *tracedStore) Save(ctx context.Context, t *oauth2.Token) error {
	fp := fingerprint(t.RefreshToken)
	s.owners.set(fp, s.merchant)
	s.ev.emit("S+ %d %s", s.merchant, fp)
	lost, err := s.save(ctx, t, fp)
	res := "ok"
	if err != nil {
		res = "err"
	}
	s.ev.emit("S- %d %s %s", s.merchant, fp, res)
	if lost && s.faults.lost != nil {
		s.faults.lost(s.merchant)
	}
	return err
}

// save saves t, or fails at the fault rate, and reports whether a fault
// left t out of the store. A failed save leaves t waiting in the source.
func (s *tracedStore) save(ctx context.Context, t *oauth2.Token, fp string) (lost bool, err error) {
	fault := s.faults.save > 0 && rand.Float64() < s.faults.save
	lost = fault && rand.IntN(2) == 0
	if !lost {
		err = s.fs.Save(ctx, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fault && err == nil {
		kind := "kept"
		if lost {
			kind = "lost"
		}
		s.ev.emit("SF %d %s %s", s.merchant, fp, kind)
		err = errStoreFault
	}
	if err == nil {
		s.pending = ""
		return false, nil
	}
	if s.pending != fp {
		s.pending, s.pendingBase = fp, s.loaded
	}
	return lost, err
}

// waiting returns the fingerprint of the token waiting to be saved, or "-".
func (s *tracedStore) waiting() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == "" {
		return "-"
	}
	return s.pending
}

// storePath is the FileStore of merchant m in dir.
func storePath(dir string, m int) string {
	return filepath.Join(dir, fmt.Sprintf("merchant-%03d.json", m))
}

// workerConfig is what a worker needs; the supervisor passes it as flags.
type workerConfig struct {
	url        string
	dir        string
	merchants  int
	goroutines int
	pause      time.Duration
	timeout    time.Duration
	saveFault  float64       // share of Saves that fail
	loadFault  float64       // share of Loads that fail
	idle       time.Duration // Merchants' IdleTimeout; 0: the library's
	quietRate  float64       // chance that a merchant goes quiet after a lost save
	rate401    float64       // share of API calls answered 401
}

// quietFor is how long a merchant stays quiet: long enough for every
// Merchants to drop its source (idle, plus the time between sweeps, a
// quarter of idle), after the calls under way end (within the client's
// timeout).
func (c workerConfig) quietFor() time.Duration { return c.idle + c.idle/4 + c.timeout + time.Second }

// oauthConfig is the client configuration of the soak.
func oauthConfig(base string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: "soak-client",
		Endpoint: ultracart.EndpointAt(base + "/rest/v2"),
	}
}

// merchantKey is the key of merchant m in Merchants.
func merchantKey(m int) string { return strconv.Itoa(m) }

// runWorker calls the protected resource from many goroutines until its
// stdin closes (the supervisor went away) or it is killed. Its clients come
// from one Merchants over a FileStore per merchant, with the library's
// default windows: refreshes in the background ahead of the expiry, callers
// waiting only inside the early window.
func runWorker(cfg workerConfig, stdin io.Reader, stdout io.Writer) error {
	ev := &events{w: stdout}
	own := &owners{m: map[string]int{}}
	att := &attacks{}
	base := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	hc := &http.Client{Timeout: cfg.timeout, Transport: &tracer{merchant: -1, owners: own, ev: ev, base: base, attacks: att, rate401: cfg.rate401}}
	faults := storeFaults{load: cfg.loadFault, save: cfg.saveFault, lost: func(m int) {
		if rand.Float64() < cfg.quietRate {
			ev.emit("Q %d %d", m, time.Now().Add(cfg.quietFor()).UnixNano())
		}
	}}
	// The last use of each merchant and its store, to tell the idle drops.
	var (
		usedMu  sync.Mutex
		lastUse = map[int]time.Time{}
		stores  = map[int]*tracedStore{}
	)
	idle := cfg.idle
	if idle <= 0 {
		idle = ultracart.MerchantIdleTimeout
	}
	opts := &ultracart.MerchantsOptions{
		IdleTimeout: cfg.idle,
		OnRefresh: func(key string, e ultracart.RefreshEvent) {
			if e.Err != nil {
				ev.emit("E %s %s", key, errClass(e.Err))
			}
		},
	}
	merchants := ultracart.NewMerchantsWithOptions(context.WithValue(context.Background(), oauth2.HTTPClient, hc), oauthConfig(cfg.url),
		func(key string) ultracart.TokenStore {
			m, _ := strconv.Atoi(key)
			s := &tracedStore{fs: ultracart.NewFileStore(storePath(cfg.dir, m)), merchant: m, owners: own, ev: ev, faults: faults}
			usedMu.Lock()
			defer usedMu.Unlock()
			if prev := stores[m]; prev != nil {
				// Built again: Merchants dropped the source, no earlier
				// than idle after its last use (less the grain with which
				// Merchants records uses).
				ev.emit("D %d %s %d", m, prev.waiting(), lastUse[m].Add(idle-time.Second).UnixNano())
			}
			stores[m] = s
			return s
		}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the supervisor's end of stdin closes when it dies
		att.readCommands(stdin)
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()

	var ok atomic.Int64
	var wg sync.WaitGroup
	for range cfg.goroutines {
		wg.Go(func() {
			for ctx.Err() == nil {
				if m, calls := att.pick(cfg.merchants); calls {
					start := time.Now()
					if reason := call(withMerchant(ctx, m), merchants.Client(merchantKey(m)), cfg.url); reason == "" {
						ok.Add(1)
					} else if ctx.Err() == nil {
						ev.emit("F %s", reason)
					}
					// Recorded after the call, so that a source built
					// again by it reads the use before.
					usedMu.Lock()
					if start.After(lastUse[m]) {
						lastUse[m] = start
					}
					usedMu.Unlock()
				}
				select {
				case <-ctx.Done():
				case <-time.After(cfg.pause):
				}
			}
		})
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			if n := ok.Swap(0); n > 0 {
				ev.emit("OK %d", n)
			}
		}
	}
}

// call makes one API call and returns "" or why it failed.
func call(ctx context.Context, c *http.Client, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+fakeuc.ItemsPath, nil)
	if err != nil {
		return "request"
	}
	resp, err := c.Do(req)
	if err != nil {
		return reason(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("api-%d", resp.StatusCode)
	}
	return ""
}

// errClass names the class of a failed refresh, as RefreshEvent's doc
// tells it.
func errClass(err error) string {
	var uerr *ultracart.Error
	switch {
	case errors.Is(err, ultracart.ErrInvalidGrant):
		return "invalid_grant"
	case errors.Is(err, ultracart.ErrPersist):
		return "persist"
	case errors.As(err, &uerr) && uerr.Temporary():
		return "temporary"
	default:
		return "other"
	}
}

// reason names the kind of a failed call's error, without its text.
func reason(err error) string {
	var uerr *ultracart.Error
	switch {
	case errors.Is(err, ultracart.ErrInvalidToken):
		return "invalid_token"
	case errors.Is(err, ultracart.ErrInvalidGrant):
		return "refresh-invalid_grant"
	case errors.Is(err, ultracart.ErrPersist):
		return "refresh-persist"
	case errors.Is(err, ultracart.ErrNoToken):
		return "no-token"
	case errors.As(err, &uerr) && uerr.StatusCode != 0:
		return fmt.Sprintf("refresh-%d", uerr.StatusCode)
	case errors.As(err, &uerr) && uerr.Temporary():
		return "refresh-transient"
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timeout"
	case errors.As(err, &uerr):
		return "refresh-other"
	default:
		return "other"
	}
}
