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
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// A worker writes one event per line on its stdout, for the supervisor.
// The events about tokens end with the time, in Unix nanoseconds:
//
//	R+ m fp             a refresh of merchant m with the refresh token of fingerprint fp starts
//	R- m fp status new  it ended: HTTP status (0: no answer), the new refresh token's fingerprint
//	G m fp              the token endpoint answered invalid_grant to that refresh
//	S+ m fp             a save of the token whose refresh token has fingerprint fp starts
//	S- m fp ok|err      it ended
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
	if strings.HasPrefix(format, "R") || strings.HasPrefix(format, "S") || strings.HasPrefix(format, "G") {
		line = fmt.Sprintf(format+" %d\n", append(args, time.Now().UnixNano())...)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = io.WriteString(e.w, line)
}

// tracer is the transport of the token requests: it reports the refreshes
// it carries to the supervisor. Its merchant is fixed, or else (merchant -1)
// told by the refresh token, which the merchant's store loaded or saved
// first (see tracedStore).
type tracer struct {
	merchant int
	owners   *owners // when merchant is -1
	ev       *events
	base     http.RoundTripper
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
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, ultracarttest.TokenPath) || req.Body == nil {
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
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(rb, []byte(ultracarttest.CodeInvalidGrant)) {
		t.ev.emit("G %d %s", merchant, fp)
	}
	t.owners.set(newFP, merchant)
	t.ev.emit("R- %d %s %d %s", merchant, fp, resp.StatusCode, newFP)
	return resp, nil
}

// tracedStore is a FileStore that reports its saves, and tells owners the
// merchant of each refresh token it loads or saves. It keeps the Locker.
type tracedStore struct {
	*ultracart.FileStore
	merchant int
	owners   *owners
	ev       *events
}

func (s *tracedStore) Load(ctx context.Context) (*oauth2.Token, error) {
	t, err := s.FileStore.Load(ctx)
	if err == nil {
		s.owners.set(fingerprint(t.RefreshToken), s.merchant)
	}
	return t, err
}

func (s *tracedStore) Save(ctx context.Context, t *oauth2.Token) error {
	fp := fingerprint(t.RefreshToken)
	s.owners.set(fp, s.merchant)
	s.ev.emit("S+ %d %s", s.merchant, fp)
	err := s.FileStore.Save(ctx, t)
	res := "ok"
	if err != nil {
		res = "err"
	}
	s.ev.emit("S- %d %s %s", s.merchant, fp, res)
	return err
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
}

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
	base := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	hc := &http.Client{Timeout: cfg.timeout, Transport: &tracer{merchant: -1, owners: own, ev: ev, base: base}}
	merchants := ultracart.NewMerchants(context.WithValue(context.Background(), oauth2.HTTPClient, hc), oauthConfig(cfg.url),
		func(key string) ultracart.TokenStore {
			m, _ := strconv.Atoi(key)
			return &tracedStore{FileStore: ultracart.NewFileStore(storePath(cfg.dir, m)), merchant: m, owners: own, ev: ev}
		})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the supervisor's end of stdin closes when it dies
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()

	var ok atomic.Int64
	var wg sync.WaitGroup
	for range cfg.goroutines {
		wg.Go(func() {
			for ctx.Err() == nil {
				m := rand.IntN(cfg.merchants)
				if reason := call(ctx, merchants.Client(merchantKey(m)), cfg.url); reason == "" {
					ok.Add(1)
				} else if ctx.Err() == nil {
					ev.emit("F %s", reason)
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+ultracarttest.ItemsPath, nil)
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

// reason names the kind of a failed call's error, without its text.
func reason(err error) string {
	var uerr *ultracart.Error
	switch {
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
