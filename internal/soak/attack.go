package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// The supervisor tells every worker, one line on its stdin each, which
// merchants to attack until when (Unix nanoseconds):
//
//	Q m until   quiet: no goroutine calls merchant m, so that every
//	            Merchants drops its idle source
//	X m until   storm: the REST resource answers 401 to each of m's calls,
//	            and m gets a share of every worker's calls (stormShare)
//
// A worker asks for a quiet merchant with a Q line on its stdout, after a
// save fault left a token of m waiting in its memory (see tracedStore).

// attacks are the merchants a worker must leave quiet or answer 401 to.
type attacks struct{ quiet, storm deadlines }

// deadlines are merchants attacked until a time.
type deadlines struct {
	mu    sync.Mutex
	until map[int]time.Time
}

func (d *deadlines) set(m int, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.until == nil {
		d.until = map[int]time.Time{}
	}
	d.until[m] = until
}

// on reports whether m is attacked now.
func (d *deadlines) on(m int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.until[m]
	if ok && time.Now().After(until) {
		delete(d.until, m)
		return false
	}
	return ok
}

// any returns a merchant attacked now, if there is one.
func (d *deadlines) any() (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for m, until := range d.until {
		if now.Before(until) {
			return m, true
		}
		delete(d.until, m)
	}
	return 0, false
}

// stormShare is the share of a worker's calls that go to a merchant in a
// storm: a rejection storm is felt by a merchant that makes many requests.
const stormShare = 1.0 / 8

// pick returns the merchant of a worker's next call, or false for none: a
// merchant in a storm (at stormShare) or any merchant that is not quiet.
func (a *attacks) pick(merchants int) (int, bool) {
	if rand.Float64() < stormShare {
		if m, ok := a.storm.any(); ok {
			return m, true
		}
	}
	m := rand.IntN(merchants)
	return m, !a.quiet.on(m)
}

// readCommands applies the supervisor's lines to a until stdin ends.
func (a *attacks) readCommands(stdin io.Reader) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || (f[0] != "Q" && f[0] != "X") {
			continue
		}
		m, err1 := strconv.Atoi(f[1])
		until, err2 := strconv.ParseInt(f[2], 10, 64)
		switch {
		case err1 != nil || err2 != nil:
		case f[0] == "Q":
			a.quiet.set(m, time.Unix(0, until))
		default:
			a.storm.set(m, time.Unix(0, until))
		}
	}
}

// merchantCtx is the context key of the merchant an API call is made for.
type merchantCtx struct{}

// withMerchant marks the API calls made with ctx as merchant m's.
func withMerchant(ctx context.Context, m int) context.Context {
	return context.WithValue(ctx, merchantCtx{}, m)
}

// rejected is the REST resource's answer to a token it rejects, as
// ultracarttest gives it for an expired one.
const rejected = `{"error":{"developer_message":"The bearer access token is invalid, expired or revoked; refresh it or authorize again.",` +
	`"error_code":"401","more_info":"","object_id":"","user_message":"Permission denied."},"metadata":{},"success":false}`

// reject401 answers req, an API call for merchant m, with 401 in place of
// the REST resource when a storm is on m or, at rate401, at random, and
// reports why. The token req carries is valid: only the answer is
// injected.
func (t *tracer) reject401(req *http.Request) (*http.Response, bool) {
	m, ok := req.Context().Value(merchantCtx{}).(int)
	if !ok || t.attacks == nil || !strings.HasSuffix(req.URL.Path, fakeuc.ItemsPath) {
		return nil, false
	}
	why := "rate"
	switch {
	case t.attacks.storm.on(m):
		why = "storm"
	case t.rate401 > 0 && rand.Float64() < t.rate401:
	default:
		return nil, false
	}
	t.ev.emit("U %d %s", m, why)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("WWW-Authenticate", `Bearer realm="UltraCart", error="invalid_token"`)
	h.Set(fakeuc.ErrorHeader, "Permission denied.")
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized)),
		StatusCode:    http.StatusUnauthorized,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(rejected)),
		ContentLength: int64(len(rejected)),
		Request:       req,
	}, true
}
