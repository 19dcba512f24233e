package main

import (
	"cmp"
	"net/http"
	"slices"
	"time"
)

// Causes of an invalid_grant answer, found by replaying the token events.
const (
	causeKillBeforeAnswer = "kill after the request was sent, before the answer was read"
	causeKillBeforeSave   = "kill after the answer, before the new token was saved"
	causeKillPending      = "kill while the new token waited to be saved after a save fault"
	causeSaveFault        = "save fault: the store kept the used token, another worker refreshed with it"
	causeLostResponse     = "lost-response fault"
	causeRevokedFamily    = "token of a family already revoked"
	causeUnexplained      = "UNEXPLAINED"
	// causeIdleDropPending is unexplained too: Merchants dropped an idle
	// source that held the only copy of a rotated refresh token.
	causeIdleDropPending = "UNEXPLAINED: an idle drop lost a token waiting to be saved"
)

var allCauses = []string{causeKillBeforeAnswer, causeKillBeforeSave, causeKillPending, causeSaveFault,
	causeLostResponse, causeRevokedFamily, causeUnexplained, causeIdleDropPending}

// isUnexplained reports whether no fault explains an invalid_grant of cause
// c: a defect of the library.
func isUnexplained(c string) bool { return c == causeUnexplained || c == causeIdleDropPending }

// judged is an invalid_grant answer and its cause.
type judged struct {
	g     tokEvent
	cause string
}

// countCauses counts the invalid_grant answers by cause.
func countCauses(js []judged) map[string]int {
	causes := map[string]int{}
	for _, j := range js {
		causes[j.cause]++
	}
	return causes
}

// use is one presentation of a refresh token.
type use struct {
	p        *proc
	merchant int
	at       int64  // of its R+ event
	ended    bool   // an R- was seen
	status   int    // of the answer; 0: none
	child    string // the new refresh token of a 200
}

// procMerchant is a worker and a merchant.
type procMerchant struct {
	p        *proc
	merchant int
}

// procToken is a worker and a refresh token, by fingerprint.
type procToken struct {
	p  *proc
	fp string
}

// history is what the replay knows of the refresh tokens when it explains
// an invalid_grant: when each was first in the store, when a worker's save
// of one failed, leaving it pending in that worker's memory, and when an
// idle drop can have lost one that was pending.
type history struct {
	savedAt      map[string]int64    // fingerprint → first successful save
	failedAt     map[procToken]int64 // first save fault that left it out of the store
	droppedAfter map[procToken]int64 // earliest moment an idle drop lost it
	last         map[procMerchant]*use
}

// by reports whether m has an entry for k no later than at (at 0: ever).
func by[K comparable](m map[K]int64, k K, at int64) bool {
	t, ok := m[k]
	return ok && (at == 0 || t <= at)
}

// classify replays the token events in time order and finds, for each
// invalid_grant a worker (or the final check) received, why its refresh
// token was dead: its first use was by a worker that died (or lost the
// answer) before the rotated token was saved, or it belonged to a family
// already revoked. Anything else is unexplained: a defect of the client
// library.
func (t *tally) classify(lostFaults bool) []judged {
	t.mu.Lock()
	evs := slices.Clone(t.tokEvents)
	t.mu.Unlock()
	slices.SortStableFunc(evs, func(a, b tokEvent) int { return cmp.Compare(a.at, b.at) })
	uses := map[string][]*use{} // refresh token fingerprint → its uses, in order
	h := history{savedAt: map[string]int64{}, failedAt: map[procToken]int64{},
		droppedAfter: map[procToken]int64{}, last: map[procMerchant]*use{}}
	first := func(m map[procToken]int64, k procToken, at int64) {
		if _, ok := m[k]; !ok {
			m[k] = at
		}
	}
	type presented struct {
		g     tokEvent
		prior []*use // the earlier uses of its refresh token
		own   *use   // the use that got the answer
	}
	var gs []presented
	for _, ev := range evs {
		switch ev.kind {
		case "R+":
			u := &use{p: ev.p, merchant: ev.merchant, at: ev.at}
			uses[ev.fp] = append(uses[ev.fp], u)
			h.last[procMerchant{ev.p, ev.merchant}] = u
		case "R-":
			// The answer belongs to this worker's latest unanswered use.
			us := uses[ev.fp]
			for i := len(us) - 1; i >= 0; i-- {
				if u := us[i]; u.p == ev.p && !u.ended {
					u.ended, u.status, u.child = true, ev.status, ev.newFP
					break
				}
			}
		case "S-", "SF": // a save fault that kept the token is a save
			if _, done := h.savedAt[ev.fp]; ev.ok && !done {
				h.savedAt[ev.fp] = ev.at
			}
			if ev.kind == "SF" && !ev.ok {
				first(h.failedAt, procToken{ev.p, ev.fp}, ev.at)
			}
		case "D":
			if ev.fp != "-" {
				first(h.droppedAfter, procToken{ev.p, ev.fp}, ev.at)
			}
		case "G":
			us := uses[ev.fp]
			g := presented{g: ev, prior: slices.Clone(us)}
			for i := len(us) - 1; i >= 0; i-- {
				if us[i].p == ev.p {
					g.prior, g.own = slices.Clone(us[:i]), us[i]
					break
				}
			}
			gs = append(gs, g)
		}
	}
	// Explained once the whole trace is known: whether a worker refreshed
	// a merchant again after a use, and whether a rotated token was ever
	// saved, can come later than the answer.
	out := make([]judged, 0, len(gs))
	for _, g := range gs {
		out = append(out, judged{g: g.g, cause: explain(g.prior, g.own, h, lostFaults)})
	}
	return out
}

// explain finds why a refresh token was dead when own presented it, from
// its earlier uses prior. A kill explains an earlier use only when it cut
// that use short: the worker was killed before own was sent (before own's
// worker could take the store's lock) and never refreshed that merchant
// again, so it died in the rotation window, between sending the request and
// saving the new token. A save fault explains it when the new token never
// reached the store before own was sent and the worker that got it kept it
// in memory, waiting to be saved: another worker could only load the used
// one. The same worker presenting it again, or an idle drop that lost the
// waiting token, is a defect of the library.
func explain(prior []*use, own *use, h history, lostFaults bool) string {
	if len(prior) == 0 {
		return causeRevokedFamily // its first presentation was rejected
	}
	var ownAt int64
	if own != nil {
		ownAt = own.at
	}
	cause := ""
	for _, u := range prior {
		killedAt := u.p.killedAt.Load()
		cutShort := killedAt != 0 && (own == nil || killedAt <= own.at) && h.last[procMerchant{u.p, u.merchant}] == u
		child := procToken{u.p, u.child}
		failed := by(h.failedAt, child, ownAt)
		switch {
		case u.status == http.StatusOK && by(h.savedAt, u.child, ownAt):
			// Rotated, yet the old token was used again while the new one
			// was in the store.
			return causeUnexplained
		case u.status == http.StatusOK && by(h.droppedAfter, child, ownAt):
			return causeIdleDropPending
		case u.status == http.StatusOK && cutShort && failed:
			cause = causeKillPending
		case u.status == http.StatusOK && cutShort:
			cause = causeKillBeforeSave
		case u.status == http.StatusOK && failed && own != nil && own.p != u.p:
			cause = causeSaveFault
		case u.status == http.StatusOK:
			// Rotated, yet the old token was used again while the new one
			// was held by a live worker.
			return causeUnexplained
		case !u.ended && cutShort && cause == "":
			cause = causeKillBeforeAnswer
		case u.ended && u.status == 0 && lostFaults && cause == "":
			cause = causeLostResponse
		}
	}
	if cause == "" {
		return causeUnexplained
	}
	return cause
}

// followUps counts, by replaying the events in time order, the tokens left
// waiting by a save fault that their worker saved later, and the refreshes
// that injected 401s caused: a worker's first refresh of a merchant within
// a second of a 401 it got for that merchant, by why the 401 was injected
// (the fp of a U event: rate or storm).
func (t *tally) followUps() (savedLater int, after401 map[string]int) {
	t.mu.Lock()
	evs := slices.Clone(t.tokEvents)
	t.mu.Unlock()
	slices.SortStableFunc(evs, func(a, b tokEvent) int { return cmp.Compare(a.at, b.at) })
	waiting := map[procToken]bool{}
	rejected := map[procMerchant]tokEvent{}
	after401 = map[string]int{}
	for _, ev := range evs {
		switch ev.kind {
		case "SF":
			if !ev.ok {
				waiting[procToken{ev.p, ev.fp}] = true
			}
		case "S-":
			if k := (procToken{ev.p, ev.fp}); ev.ok && waiting[k] {
				savedLater++
				delete(waiting, k)
			}
		case "U":
			rejected[procMerchant{ev.p, ev.merchant}] = ev
		case "R+":
			k := procMerchant{ev.p, ev.merchant}
			if u, ok := rejected[k]; ok && ev.at-u.at <= int64(time.Second) {
				after401[u.fp]++
			}
			delete(rejected, k)
		}
	}
	return savedLater, after401
}
