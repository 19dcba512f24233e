// Command soak attacks the promise that only the merchant's own revocation
// ever makes an application ask for authorization again.
//
// It starts the fake UltraCart (internal/fakeuc) in strict mode (a reused
// refresh token revokes its whole family, no grace period) on 127.0.0.1,
// one FileStore per merchant in
// a temporary directory, and worker processes (this same program, with
// -worker) that share those stores, each with many goroutines calling the
// protected resource through the clients of one Merchants, with the
// library's default windows. Access tokens live 24 s, so each merchant's
// token is refreshed about every 12 s, mostly in the background, and many
// merchants make many refreshes a second. Meanwhile the supervisor SIGKILLs
// random workers at random moments (and on purpose while a refresh or a
// save is in flight) and restarts them, and the server answers token
// requests with 5xx, resets and delays past the client's timeout at the
// stated rates.
//
// It attacks three more things. The workers' stores fail Saves and Loads at
// a rate, as a database blip would (half the failed Saves after the token
// reached the store), so that ErrPersist leaves a rotated token waiting in
// a worker's memory many times a run. The workers' Merchants drop a
// merchant's source after seconds without a call, and a merchant whose
// token waits so goes quiet for every worker for longer than that (its
// worker spared from kills meanwhile), so that idle drops meet waiting
// tokens. And the REST resource answers 401 to a valid token: a share of
// all calls, and every call of one merchant during storms (the workers'
// transport answers in its place, see attack.go).
//
// At the end it stops every worker, checks that each merchant's stored token
// still works, and prints the figures. A worker killed after the server
// rotated a refresh token but before the new one was saved has lost that
// response: its merchant's family is revoked on the next refresh, which the
// soak counts and answers by authorizing the merchant again (a new grant in
// the store). With -lost-rate, responses lost in transit are injected too.
// Both are a limit of the protocol that only a grace period (-grace)
// absorbs. The soak exits 0 when every invalid_grant is explained so and
// every final token works; -require-zero makes it fail on any reuse,
// revoked family or invalid_grant.
//
// Usage:
//
//	go run ./internal/soak -duration 30s
//	go run ./internal/soak -duration 12m -cycles 10000 -merchants 1024 -kill-every 200ms
//	go run ./internal/soak -duration 60s -lost-rate 0.02 -grace 0 \
//		-kill-every 0 -kill-in-flight 0 -rate-5xx 0 -rate-reset 0 -rate-delay 0
//
// Each invalid_grant is explained at the end by replaying the events of the
// workers in time order (see classify); one that no kill, lost response or
// save fault explains is a defect of the library and fails the run. A save
// fault explains one only when another worker, which could not know the
// new token, refreshed with the old one; a worker that presents a token it
// rotated itself, or an idle drop that lost a token waiting to be saved,
// is a defect. The run can end
// inside a rotation window (a worker stopped after its refresh was sent and
// before the new token was saved, no later refresh of that merchant), so
// the final check is traced like a worker: its invalid_grant goes through
// the same replay and, when explained, the merchant is authorized again and
// checked once more (see endCheck).
//
// The module's tests do not run it: .ci/run runs a short soak.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var (
		worker bool
		wcfg   workerConfig
		scfg   soakConfig
	)
	flag.BoolVar(&worker, "worker", false, "run as a worker (started by the supervisor)")
	flag.StringVar(&wcfg.url, "url", "", "worker: the server's base URL")
	flag.StringVar(&wcfg.dir, "dir", "", "worker: the directory of the stores")

	flag.DurationVar(&scfg.duration, "duration", 30*time.Second, "how long to run at most")
	flag.IntVar(&scfg.cycles, "cycles", 0, "stop once this many refreshes were carried out (0: no limit)")
	flag.IntVar(&scfg.workers, "workers", 4, "worker processes")
	flag.IntVar(&wcfg.goroutines, "goroutines", 4, "calling goroutines per worker")
	flag.IntVar(&wcfg.merchants, "merchants", 256, "merchants, one token family and one FileStore each")
	flag.DurationVar(&wcfg.pause, "pause", 20*time.Millisecond, "pause of each goroutine between calls")
	flag.DurationVar(&wcfg.timeout, "timeout", time.Second, "the workers' HTTP client timeout")
	// Merchants refreshes in the background from half the lifetime before
	// the expiry, and makes callers wait from DefaultExpiryDelta (10 s):
	// 24 s leaves a background window of 2 s.
	flag.DurationVar(&scfg.lifetime, "lifetime", 24*time.Second, "access token lifetime")
	flag.DurationVar(&scfg.killEvery, "kill-every", 250*time.Millisecond, "mean time between random kills (0: none)")
	flag.Float64Var(&scfg.killInFlight, "kill-in-flight", 0.05, "chance to kill a worker when it starts a refresh or a save")
	flag.Float64Var(&scfg.rate5xx, "rate-5xx", 0.03, "share of token requests answered 503")
	flag.Float64Var(&scfg.rateReset, "rate-reset", 0.03, "share of token requests reset")
	flag.Float64Var(&scfg.rateDelay, "rate-delay", 0.03, "share of token requests delayed past the timeout")
	flag.Float64Var(&scfg.rateLost, "lost-rate", 0, "share of token requests carried out whose response is lost")
	flag.Float64Var(&wcfg.saveFault, "save-fault-rate", 0.03, "share of the workers' Saves that fail (half of them after the token reached the store)")
	flag.Float64Var(&wcfg.loadFault, "load-fault-rate", 0.01, "share of the workers' Loads that fail")
	flag.DurationVar(&wcfg.idle, "idle", 2*time.Second, "the workers' Merchants drop a merchant's source after this long without a call (0: the library's default)")
	flag.Float64Var(&wcfg.quietRate, "quiet-rate", 1, "chance that a merchant goes quiet (no worker calls it, and the worker is spared from kills) for 1.25×idle+timeout+1s after a save failed with its token out of the store")
	flag.Float64Var(&wcfg.rate401, "rate-401", 0.005, "share of API calls answered 401 with a valid token")
	flag.DurationVar(&scfg.stormEvery, "storm-every", 5*time.Second, "mean time between windows in which one merchant's every API call is answered 401 (0: none)")
	flag.DurationVar(&scfg.stormFor, "storm-for", 2*time.Second, "how long each such window lasts")
	flag.DurationVar(&scfg.grace, "grace", 0, "the server's grace period for a used refresh token")
	flag.StringVar(&scfg.trace, "trace", "", "write every event to this file")
	flag.BoolVar(&scfg.requireZero, "require-zero", false, "fail on any reuse, revoked family or invalid_grant, even one a kill explains")
	flag.Parse()

	if worker {
		if err := runWorker(wcfg, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ultracart: soak worker:", err)
			os.Exit(1)
		}
		return
	}
	scfg.worker = wcfg
	ok, err := runSoak(scfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
