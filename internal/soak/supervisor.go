package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// soakConfig is the supervisor's configuration.
type soakConfig struct {
	duration     time.Duration
	cycles       int
	workers      int
	lifetime     time.Duration
	killEvery    time.Duration
	killInFlight float64
	rate5xx      float64
	rateReset    float64
	rateDelay    float64
	rateLost     float64
	grace        time.Duration
	stormEvery   time.Duration
	stormFor     time.Duration
	trace        string
	requireZero  bool
	worker       workerConfig
}

// proc is one run of one worker process.
type proc struct {
	slot, gen  int
	cmd        *exec.Cmd
	stdin      io.WriteCloser // closed by the supervisor's death: the worker exits
	stdinMu    sync.Mutex     // one writer of a line at a time
	stdout     io.ReadCloser  // its events
	refreshing atomic.Int32   // refreshes started and not ended, as last reported
	saving     atomic.Int32   // saves started and not ended
	killOnce   sync.Once
	killedAt   atomic.Int64 // Unix nanoseconds just before its kill (by the soak or the end of the run); 0 if none
	// spareUntil (Unix nanoseconds) keeps p from the soak's kills while a
	// merchant it holds a token of, waiting to be saved, is quiet, and a
	// while after: long enough for an idle drop to lose that token, and
	// for p to call the merchant again and tell it (see attack.go).
	spareUntil atomic.Int64
	touched    map[int]bool // the merchants it has events of; guarded by the tally's mu
}

// Slots of the events that are the supervisor's own.
const (
	slotFinal = -1 // the final check
	slotSup   = -2 // the attacks it orders
)

// name names p in the events: its slot and run, "final" for the final
// check of the supervisor, or "supervisor".
func (p *proc) name() string {
	switch p.slot {
	case slotFinal:
		return "final"
	case slotSup:
		return "supervisor"
	}
	return fmt.Sprintf("w%d#%d", p.slot, p.gen)
}

// tokEvent is one event about a token, for the classification at the end.
type tokEvent struct {
	at        int64 // Unix nanoseconds, the worker's clock
	kind      string
	merchant  int
	fp, newFP string
	status    int
	ok        bool
	p         *proc
}

// tally holds the figures of a run.
type tally struct {
	mu              sync.Mutex
	starts          int
	kills           int
	killsRefresh    int // the worker had a refresh in flight
	killsSave       int // the worker had a save in flight
	killsTargeted   int // decided when a refresh or save started
	okCalls         int64
	failed          map[string]int
	invalidGrant    int // invalid_grant answers the workers received
	reauthorized    int
	saveFaults      map[string]int // by kind: lost, kept
	loadFaults      int
	drops           map[bool]int // idle drops seen, by whether a token waited to be saved
	quiet           int          // merchants sent quiet
	storms          int
	injected401     map[string]int // by why: rate, storm
	refreshFailed   map[string]int // failed refreshes OnRefresh saw, by class
	firstSequence   []string       // the events of the merchant of the first invalid_grant
	recent          map[int][]string
	tokEvents       []tokEvent
	traceOut        *bufio.Writer
	start           time.Time
	stopping        atomic.Bool
	reauthInFlight  sync.WaitGroup
	targetedPending sync.WaitGroup
}

const recentPerMerchant = 60

// timed are the events that end with the time they happened at, for the
// replay.
var timed = []string{"R+", "R-", "S+", "S-", "SF", "G", "D", "U"}

// record keeps an event of p (merchant -1: of every merchant p has an
// event of, such as its kill) for the trace and for the sequence of the
// first invalid_grant. The events about tokens
// lose their time stamp on the way: the supervisor's time is printed.
func (t *tally) record(p *proc, line string, merchant int) {
	if f := strings.Fields(line); len(f) >= 4 && slices.Contains(timed, f[0]) {
		line = strings.Join(f[:len(f)-1], " ")
	}
	ev := fmt.Sprintf("%9.3fs %s %s", time.Since(t.start).Seconds(), p.name(), line)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.traceOut != nil {
		_, _ = t.traceOut.WriteString(ev + "\n")
	}
	keep := func(m int) {
		r := append(t.recent[m], ev)
		if len(r) > recentPerMerchant {
			r = r[len(r)-recentPerMerchant:]
		}
		t.recent[m] = r
	}
	if merchant >= 0 {
		if p.touched == nil {
			p.touched = map[int]bool{}
		}
		p.touched[merchant] = true
		keep(merchant)
		return
	}
	for m := range p.touched {
		keep(m)
	}
}

// runSoak runs the soak and prints its figures to out. It reports whether
// the run passed.
func runSoak(cfg soakConfig, out io.Writer) (bool, error) {
	exe, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("ultracart: soak: finding this program: %w", err)
	}
	dir, err := os.MkdirTemp("", "ultracart-soak-")
	if err != nil {
		return false, fmt.Errorf("ultracart: soak: %w", err)
	}
	defer os.RemoveAll(dir)

	srv := fakeuc.NewServer()
	defer srv.Close()
	srv.SetOptions(fakeuc.Options{
		ReuseDetection: true,
		ReuseGrace:     cfg.grace,
		TokenLifetime:  cfg.lifetime,
		KeepRequests:   1000,
	})
	ctx := context.Background()
	for m := range cfg.worker.merchants {
		// Expiries spread over the second half of the lifetime, so that
		// the merchants' refreshes do not come all at once.
		tok := srv.IssueToken("")
		tok.Expiry = time.Now().Add(cfg.lifetime/2 + rand.N(cfg.lifetime/2+1))
		if err := ultracart.NewFileStore(storePath(dir, m)).Save(ctx, tok); err != nil {
			return false, fmt.Errorf("ultracart: soak: saving the first token: %w", err)
		}
	}
	queueFaults(srv, cfg)

	t := &tally{failed: map[string]int{}, recent: map[int][]string{}, start: time.Now(),
		saveFaults: map[string]int{}, drops: map[bool]int{}, injected401: map[string]int{}, refreshFailed: map[string]int{}}
	if cfg.trace != "" {
		f, err := os.Create(cfg.trace)
		if err != nil {
			return false, fmt.Errorf("ultracart: soak: %w", err)
		}
		defer f.Close()
		t.traceOut = bufio.NewWriterSize(f, 1<<16)
		defer t.traceOut.Flush()
	}

	wcfg := cfg.worker
	wcfg.url, wcfg.dir = srv.URL, dir
	args := []string{"-worker", "-url", wcfg.url, "-dir", wcfg.dir,
		"-merchants", strconv.Itoa(wcfg.merchants), "-goroutines", strconv.Itoa(wcfg.goroutines),
		"-pause", wcfg.pause.String(), "-timeout", wcfg.timeout.String(),
		"-save-fault-rate", fmt.Sprint(wcfg.saveFault), "-load-fault-rate", fmt.Sprint(wcfg.loadFault),
		"-idle", wcfg.idle.String(), "-quiet-rate", fmt.Sprint(wcfg.quietRate), "-rate-401", fmt.Sprint(wcfg.rate401)}

	var (
		procMu sync.Mutex
		procs  = make([]*proc, cfg.workers)
		slots  sync.WaitGroup
		orders []order // the attacks ordered, for the workers started later
	)
	// broadcast orders every worker to attack merchant m until then (see
	// attack.go), and keeps the order for the workers started later.
	sup := &proc{slot: slotSup}
	broadcast := func(kind string, m int, until time.Time) {
		o := order{fmt.Sprintf("%s %d %d", kind, m, until.UnixNano()), until}
		t.record(sup, fmt.Sprintf("%s %d for %s", map[string]string{"Q": "QUIET", "X": "STORM"}[kind], m, time.Until(until).Round(time.Millisecond)), m)
		procMu.Lock()
		defer procMu.Unlock()
		orders = append(slices.DeleteFunc(orders, order.over), o)
		for _, p := range procs {
			if p != nil {
				p.send(o.line)
			}
		}
	}
	kill := func(p *proc, targeted bool) {
		if !t.stopping.Load() && time.Now().UnixNano() < p.spareUntil.Load() {
			return
		}
		p.killOnce.Do(func() {
			refreshing, saving := p.refreshing.Load() > 0, p.saving.Load() > 0
			// Stamped before the kill, so that it is earlier than any event
			// of another worker that could only follow p's death (taking
			// the lock p held), however the supervisor is scheduled.
			p.killedAt.Store(time.Now().UnixNano())
			_ = p.cmd.Process.Kill() // SIGKILL on Unix
			if t.stopping.Load() {
				// The end of the run, not a kill of the soak; it still
				// explains a refresh it cut short.
				t.record(p, fmt.Sprintf("STOPPED (refresh in flight %t, save in flight %t)", refreshing, saving), -1)
				return
			}
			t.record(p, fmt.Sprintf("KILLED (refresh in flight %t, save in flight %t)", refreshing, saving), -1)
			t.mu.Lock()
			defer t.mu.Unlock()
			t.kills++
			if refreshing {
				t.killsRefresh++
			}
			if saving {
				t.killsSave++
			}
			if targeted {
				t.killsTargeted++
			}
		})
	}
	// quiet grants p's request that merchant m go quiet: unless another
	// worker is spared from kills, p is spared, and every worker told.
	var spared atomic.Int64 // until when some worker is spared
	quiet := func(p *proc, m int, until time.Time) {
		spare := until.Add(spareAfterQuiet).UnixNano()
		if cur := spared.Load(); cur > time.Now().UnixNano() || !spared.CompareAndSwap(cur, spare) {
			return
		}
		p.spareUntil.Store(spare)
		broadcast("Q", m, until)
		t.count(func() { t.quiet++ })
	}

	for slot := range cfg.workers {
		slots.Go(func() {
			for gen := 1; !t.stopping.Load(); gen++ {
				p, err := startWorker(exe, args, slot, gen)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				t.mu.Lock()
				t.starts++
				t.mu.Unlock()
				procMu.Lock()
				procs[slot] = p
				for _, o := range orders {
					if !o.over() {
						p.send(o.line)
					}
				}
				if t.stopping.Load() {
					// Started while the run ended: the loop that stops
					// the workers may have missed it.
					kill(p, false)
				}
				procMu.Unlock()
				readEvents(p, t, cfg, srv, dir, kill, quiet)
				_ = p.cmd.Wait()
			}
		})
	}

	// The random killer.
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for cfg.killEvery > 0 && !t.stopping.Load() {
			time.Sleep(time.Duration(rand.ExpFloat64() * float64(cfg.killEvery)))
			procMu.Lock()
			p := procs[rand.IntN(len(procs))]
			procMu.Unlock()
			if p != nil && !t.stopping.Load() {
				kill(p, false)
			}
		}
	}()

	// The 401 storms, one merchant at a time.
	stormsDone := make(chan struct{})
	go func() {
		defer close(stormsDone)
		for cfg.stormEvery > 0 && cfg.stormFor > 0 && !t.stopping.Load() {
			time.Sleep(time.Duration(rand.ExpFloat64() * float64(cfg.stormEvery)))
			if !t.stopping.Load() {
				broadcast("X", rand.IntN(cfg.worker.merchants), time.Now().Add(cfg.stormFor))
				t.mu.Lock()
				t.storms++
				t.mu.Unlock()
			}
		}
	}()

	// An interrupt ends the run early, still stopping every worker.
	interrupted, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stopSignals()
	deadline := time.Now().Add(cfg.duration)
	progress := time.Now()
	for time.Now().Before(deadline) && interrupted.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		st := srv.Stats()
		if cfg.cycles > 0 && st.Rotations >= cfg.cycles {
			break
		}
		if time.Since(progress) >= 10*time.Second {
			progress = time.Now()
			t.mu.Lock()
			fmt.Fprintf(os.Stderr, "soak: %5.0fs  %d refresh cycles, %d kills, %d reuse\n",
				time.Since(t.start).Seconds(), st.Rotations, t.kills, st.ReuseDetected)
			t.mu.Unlock()
		}
	}
	elapsed := time.Since(t.start)

	// Stop everything this run started.
	t.stopping.Store(true)
	<-killerDone
	<-stormsDone
	procMu.Lock()
	for _, p := range procs {
		if p != nil {
			kill(p, false)
		}
	}
	procMu.Unlock()
	slots.Wait()
	t.targetedPending.Wait()
	t.reauthInFlight.Wait()
	srv.ClearFaults()

	// The final check: each stored token still works, with a fresh source.
	end := endCheck(srv, dir, cfg.worker, t, cfg.rateLost > 0)
	st := srv.Stats()

	causes := countCauses(end.judged)
	pass := end.pass()
	if cfg.requireZero {
		pass = pass && st.ReuseDetected == 0 && st.FamiliesRevoked == 0 && t.invalidGrant == 0 && st.InvalidGrant == 0
	}
	report(out, cfg, t, st, elapsed, end, causes, pass)
	return pass, nil
}

// queueFaults makes the token endpoint fail at the configured rates.
func queueFaults(srv *fakeuc.Server, cfg soakConfig) {
	add := func(rate float64, f fakeuc.Fault) {
		if rate > 0 {
			f.Rate = rate
			srv.Fail(fakeuc.TokenPath, f)
		}
	}
	add(cfg.rateLost, fakeuc.Fault{LoseResponse: true})
	add(cfg.rate5xx, fakeuc.Fault{Status: http.StatusServiceUnavailable, Body: "busy"})
	add(cfg.rateReset, fakeuc.Fault{Reset: true})
	add(cfg.rateDelay, fakeuc.Fault{Delay: cfg.worker.timeout + 500*time.Millisecond, Status: http.StatusServiceUnavailable})
}

// spareAfterQuiet is how long a worker is spared from kills after a quiet
// it asked for ends: it calls the merchant again within about a second.
const spareAfterQuiet = 3 * time.Second

// order is an attack the supervisor ordered, as the line sent to workers.
type order struct {
	line  string
	until time.Time
}

func (o order) over() bool { return time.Now().After(o.until) }

// send writes one line to p's stdin. A worker that died does not read it.
func (p *proc) send(line string) {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	_, _ = io.WriteString(p.stdin, line+"\n")
}

// startWorker starts one worker process.
func startWorker(exe string, args []string, slot, gen int) (*proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ultracart: soak: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ultracart: soak: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ultracart: soak: starting a worker: %w", err)
	}
	return &proc{slot: slot, gen: gen, cmd: cmd, stdin: stdin, stdout: stdout}, nil
}

// readEvents reads the events of p until it exits.
func readEvents(p *proc, t *tally, cfg soakConfig, srv *fakeuc.Server, dir string, kill func(*proc, bool),
	quiet func(p *proc, m int, until time.Time)) {
	sc := bufio.NewScanner(p.stdout)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		merchant := t.addTokEvent(p, f)
		switch f[0] {
		case "OK":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			t.mu.Lock()
			t.okCalls += n
			t.mu.Unlock()
			continue
		case "F":
			t.mu.Lock()
			t.failed[f[1]]++
			t.mu.Unlock()
			continue
		case "R+", "S+":
			t.record(p, line, merchant) // before a kill it may cause
			if f[0] == "R+" {
				p.refreshing.Add(1)
			} else {
				p.saving.Add(1)
			}
			if rand.Float64() < cfg.killInFlight && !t.stopping.Load() {
				t.targetedPending.Add(1)
				go func() {
					defer t.targetedPending.Done()
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					kill(p, true)
				}()
			}
			continue
		case "R-":
			p.refreshing.Add(-1)
		case "S-":
			p.saving.Add(-1)
		case "Q":
			if until, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil && merchant >= 0 {
				quiet(p, merchant, time.Unix(0, until))
			}
		case "SF":
			t.count(func() { t.saveFaults[f[3]]++ })
		case "LF":
			t.count(func() { t.loadFaults++ })
		case "D":
			t.count(func() { t.drops[f[2] != "-"]++ })
		case "U":
			t.count(func() { t.injected401[f[2]]++ })
		case "E":
			t.count(func() { t.refreshFailed[f[2]]++ })
		case "G":
			t.record(p, line, merchant)
			t.mu.Lock()
			t.invalidGrant++
			if t.firstSequence == nil {
				t.firstSequence = append([]string(nil), t.recent[merchant]...)
			}
			t.mu.Unlock()
			if merchant >= 0 {
				t.reauthInFlight.Add(1)
				go func() {
					defer t.reauthInFlight.Done()
					if reauthorize(srv, dir, merchant, f[2]) {
						t.mu.Lock()
						t.reauthorized++
						t.mu.Unlock()
					}
				}()
			}
			continue
		}
		t.record(p, line, merchant)
	}
	// Drain anything left, so the process can exit.
	_, _ = io.Copy(io.Discard, p.stdout)
}

// count changes the figures under t's lock.
func (t *tally) count(change func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	change()
}

// addTokEvent keeps the event f of p for the classification when it is
// timed, and returns its merchant, or -1 for an event of none.
func (t *tally) addTokEvent(p *proc, f []string) int {
	if len(f) < 2 || f[0] == "OK" || f[0] == "F" {
		return -1
	}
	merchant, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	if len(f) < 4 || !slices.Contains(timed, f[0]) {
		return merchant
	}
	ev := tokEvent{kind: f[0], merchant: merchant, fp: f[2], p: p}
	ev.at, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
	switch f[0] {
	case "R-":
		if len(f) >= 6 {
			ev.status, _ = strconv.Atoi(f[3])
			ev.newFP = f[4]
		}
	case "S-":
		ev.ok = f[3] == "ok"
	case "SF":
		ev.ok = f[3] == "kept"
	}
	t.mu.Lock()
	t.tokEvents = append(t.tokEvents, ev)
	t.mu.Unlock()
	return merchant
}

// reauthorize stands for the merchant authorizing the application again: if
// the stored token of merchant m is still the one the server rejected (its
// refresh token has fingerprint fp), a new grant replaces it. It reports
// whether it did.
func reauthorize(srv *fakeuc.Server, dir string, m int, fp string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store := ultracart.NewFileStore(storePath(dir, m))
	unlock, err := store.Lock(ctx)
	if err != nil {
		return false
	}
	defer unlock()
	tok, err := store.Load(ctx)
	if err == nil && fingerprint(tok.RefreshToken) != fp {
		return false // already replaced, or never stored
	}
	return store.Save(ctx, srv.IssueToken("")) == nil
}

// report prints the figures of a run.
func report(out io.Writer, cfg soakConfig, t *tally, st fakeuc.Stats, elapsed time.Duration, end endResult, causes map[string]int, pass bool) {
	savedLater, after401 := t.followUps()
	t.mu.Lock()
	defer t.mu.Unlock()
	w := cfg.worker
	ahead := min(ultracart.DefaultRefreshAhead, cfg.lifetime/2)
	fmt.Fprintf(out, "soak: %s, %d workers x %d goroutines, %d merchants (Merchants, one FileStore each), token lifetime %s\n",
		elapsed.Round(100*time.Millisecond), cfg.workers, w.goroutines, w.merchants, cfg.lifetime)
	fmt.Fprintf(out, "client: refresh in the background from %s before expiry, callers wait from %s before\n",
		ahead, ultracart.DefaultExpiryDelta)
	fmt.Fprintf(out, "server: strict (reuse revokes the family), grace %s\n", cfg.grace)
	fmt.Fprintf(out, "refresh cycles:          %d (refresh requests %d, within grace %d)\n", st.Rotations, st.Refresh, st.GraceReuses)
	fmt.Fprintf(out, "worker starts:           %d\n", t.starts)
	fmt.Fprintf(out, "kills:                   %d (refresh in flight %d, save in flight %d; %d aimed at a refresh or save start)\n",
		t.kills, t.killsRefresh, t.killsSave, t.killsTargeted)
	fmt.Fprintf(out, "token-endpoint faults:   503 %d, reset %d, delay past timeout %d, lost response %d (rates %.3g, %.3g, %.3g, %.3g)\n",
		st.Faults.Status, st.Faults.Reset, st.Faults.Delayed, st.Faults.LostResponse,
		cfg.rate5xx, cfg.rateReset, cfg.rateDelay, cfg.rateLost)
	fmt.Fprintf(out, "store faults:            %d saves failed (%d left the token out of the store, %d kept it; rate %.3g), %d loads failed (rate %.3g)\n",
		t.saveFaults["lost"]+t.saveFaults["kept"], t.saveFaults["lost"], t.saveFaults["kept"], w.saveFault, t.loadFaults, w.loadFault)
	fmt.Fprintf(out, "tokens waiting to be saved, saved later by their worker: %d\n", savedLater)
	fmt.Fprintf(out, "idle drops:              %d with a token waiting to be saved, %d without (idle timeout %s; %d merchants sent quiet for %s)\n",
		t.drops[true], t.drops[false], w.idle, t.quiet, w.quietFor())
	per := func(n, of int) string {
		if of == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(n)/float64(of))
	}
	fmt.Fprintf(out, "401s injected:           %d at random (rate %.3g), %d in %d storms of %s\n",
		t.injected401["rate"], w.rate401, t.injected401["storm"], t.storms, cfg.stormFor)
	fmt.Fprintf(out, "refreshes they caused:   %d after random ones (per 401: %s), %d in storms (per 401: %s, per storm: %s)\n",
		after401["rate"], per(after401["rate"], t.injected401["rate"]),
		after401["storm"], per(after401["storm"], t.injected401["storm"]), per(after401["storm"], t.storms))
	fmt.Fprintf(out, "failed refreshes (OnRefresh): persist %d, invalid_grant %d, temporary %d, other %d\n",
		t.refreshFailed["persist"], t.refreshFailed["invalid_grant"], t.refreshFailed["temporary"], t.refreshFailed["other"])
	fmt.Fprintf(out, "reuse detected:          %d\n", st.ReuseDetected)
	fmt.Fprintf(out, "families revoked:        %d\n", st.FamiliesRevoked)
	fmt.Fprintf(out, "invalid_grant:           %d answered by the server, %d received by workers, %d by the final check\n",
		st.InvalidGrant, t.invalidGrant, end.finalInvalidGrant())
	fmt.Fprintf(out, "invalid_grant, by cause:  ")
	for i, c := range allCauses {
		if i > 0 {
			fmt.Fprintf(out, ", ")
		}
		fmt.Fprintf(out, "%s %d", c, causes[c])
	}
	fmt.Fprintln(out)
	nUnexplained := 0
	for c, n := range causes {
		if isUnexplained(c) {
			nUnexplained += n
		}
	}
	fmt.Fprintf(out, "unexplained invalid_grant: %d\n", nUnexplained)
	reauth := t.reauthorized + end.reauthorized
	perLost := "-"
	if st.Faults.LostResponse > 0 {
		perLost = fmt.Sprintf("%.2f", float64(reauth)/float64(st.Faults.LostResponse))
	}
	fmt.Fprintf(out, "re-authorizations:       %d (%d during the run, %d at the end; per lost response: %s)\n",
		reauth, t.reauthorized, end.reauthorized, perLost)
	total := 0
	reasons := make([]string, 0, len(t.failed))
	for r, n := range t.failed {
		total += n
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	fmt.Fprintf(out, "API calls:               %d ok, %d failed\n", t.okCalls, total)
	for _, r := range reasons {
		fmt.Fprintf(out, "  failed, %-22s %d\n", r+":", t.failed[r])
	}
	fmt.Fprintf(out, "final stored tokens:     %d of %d work (%d of them after a re-authorization at the end)\n",
		end.working, w.merchants, end.reauthorized)
	if len(t.firstSequence) > 0 {
		fmt.Fprintf(out, "events of the merchant of the first invalid_grant (time, worker#run, event; tokens by fingerprint):\n")
		for _, ev := range t.firstSequence {
			fmt.Fprintf(out, "  %s\n", ev)
		}
	}
	for i, f := range end.failed {
		fmt.Fprintf(out, "merchant %d: the final stored token does not work (%s)\n", f.merchant, f.why)
		if i == 0 { // the first one's events are enough to start from; -trace has them all
			for _, ev := range t.recent[f.merchant] {
				fmt.Fprintf(out, "  %s\n", ev)
			}
		}
	}
	verdict := "PASS"
	if !pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(out, "verdict: %s\n", verdict)
}
