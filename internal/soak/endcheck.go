package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// endResult is the outcome of the final check.
type endResult struct {
	merchants    int
	working      int         // stored tokens that work, at once or after a re-authorization
	reauthorized int         // merchants re-authorized by the final check
	failed       []endFailed // merchants whose stored token does not work
	judged       []judged    // every invalid_grant of the run, the final check's included
	final        *proc       // the final check, in the events
}

// endFailed is a merchant whose stored token does not work at the end.
type endFailed struct {
	merchant int
	why      string
}

// pass reports whether every stored token works and every invalid_grant is
// explained.
func (r endResult) pass() bool {
	if r.working != r.merchants || len(r.failed) > 0 {
		return false
	}
	for _, j := range r.judged {
		if isUnexplained(j.cause) {
			return false
		}
	}
	return true
}

// finalInvalidGrant counts the invalid_grant answers the final check got.
func (r endResult) finalInvalidGrant() int {
	n := 0
	for _, j := range r.judged {
		if j.g.p == r.final {
			n++
		}
	}
	return n
}

// endCheck runs once every worker is stopped: it calls the API once per
// merchant through a fresh PersistentTokenSource over its store, traced like
// a worker's, and then classifies every invalid_grant of the run, the final
// check's included.
//
// The run can end right after a worker's refresh was carried out and before
// its new token was saved, with no later refresh of that merchant by
// another worker: the store still holds the used refresh token, and the
// final check's refresh is the reuse that revokes the family. That is the
// same limit of the protocol as a kill in the middle of the run. So a
// merchant whose final call fails with invalid_grant is re-authorized and
// checked again when the replay explains that invalid_grant (a kill in the
// rotation window, or a lost response); an unexplained one fails the run,
// and so does a final call that fails for any other reason.
func endCheck(srv *fakeuc.Server, dir string, cfg workerConfig, t *tally, lostFaults bool) endResult {
	res := endResult{merchants: cfg.merchants, final: &proc{slot: -1}}
	ev := &events{w: &finalSink{t: t, p: res.final}}
	base := &http.Transport{Proxy: nil}
	defer base.CloseIdleConnections()
	check := func(m int) string {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &tracer{merchant: m, ev: ev, base: base}}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		store := &tracedStore{fs: ultracart.NewFileStore(storePath(dir, m)), merchant: m, ev: ev}
		// No background refresh: the check must leave nothing running.
		src := ultracart.PersistentTokenSourceWithOptions(ctx, oauthConfig(srv.URL), store, &ultracart.PersistentOptions{RefreshAhead: -1})
		return call(ctx, ultracart.NewClient(ctx, src), srv.URL)
	}

	first := make([]string, cfg.merchants)
	for m := range cfg.merchants {
		first[m] = check(m)
	}
	res.judged = t.classify(lostFaults)
	for m, why := range first {
		if why == "" {
			res.working++
			continue
		}
		if why != "refresh-invalid_grant" {
			res.failed = append(res.failed, endFailed{m, why})
			continue
		}
		var g *judged
		for i := range res.judged {
			if j := &res.judged[i]; j.g.p == res.final && j.g.merchant == m {
				g = j
			}
		}
		switch {
		case g == nil:
			res.failed = append(res.failed, endFailed{m, "invalid_grant without a traced answer"})
		case isUnexplained(g.cause):
			res.failed = append(res.failed, endFailed{m, "invalid_grant, " + g.cause})
		case !reauthorize(srv, dir, m, g.g.fp):
			res.failed = append(res.failed, endFailed{m, "invalid_grant, and the re-authorization failed"})
		default:
			res.reauthorized++
			if again := check(m); again != "" {
				res.failed = append(res.failed, endFailed{m, "after a re-authorization: " + again})
				continue
			}
			res.working++
		}
	}
	return res
}

// finalSink takes the events of the final check, as readEvents takes a
// worker's, without its kills and re-authorizations.
type finalSink struct {
	t *tally
	p *proc
}

func (s *finalSink) Write(b []byte) (int, error) {
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) >= 2 {
			s.t.record(s.p, line, s.t.addTokEvent(s.p, f))
		}
	}
	return len(b), nil
}
