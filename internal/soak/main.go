// Command soak attacks the promise that only the merchant's own revocation
// ever makes an application ask for authorization again.
//
// It starts ultracarttest in strict mode (a reused refresh token revokes its
// whole family, no grace period) on 127.0.0.1, one FileStore per merchant in
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
// workers in time order (see classify); one that no kill or lost response
// explains is a defect of the library and fails the run. The run can end
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
