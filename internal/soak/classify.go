package main

import (
	"cmp"
	"net/http"
	"slices"
)

// Causes of an invalid_grant answer, found by replaying the token events.
const (
	causeKillBeforeAnswer = "kill after the request was sent, before the answer was read"
	causeKillBeforeSave   = "kill after the answer, before the new token was saved"
	causeLostResponse     = "lost-response fault"
	causeRevokedFamily    = "token of a family already revoked"
	causeUnexplained      = "UNEXPLAINED"
)

var allCauses = []string{causeKillBeforeAnswer, causeKillBeforeSave, causeLostResponse, causeRevokedFamily, causeUnexplained}

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
	saved := map[string]bool{}  // the fingerprints of the refresh tokens saved
	last := map[procMerchant]*use{}
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
			last[procMerchant{ev.p, ev.merchant}] = u
		case "R-":
			// The answer belongs to this worker's latest unanswered use.
			us := uses[ev.fp]
			for i := len(us) - 1; i >= 0; i-- {
				if u := us[i]; u.p == ev.p && !u.ended {
					u.ended, u.status, u.child = true, ev.status, ev.newFP
					break
				}
			}
		case "S-":
			if ev.ok {
				saved[ev.fp] = true
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
		out = append(out, judged{g: g.g, cause: explain(g.prior, g.own, saved, last, lostFaults)})
	}
	return out
}

// explain finds why a refresh token was dead when own presented it, from
// its earlier uses prior. A kill explains an earlier use only when it cut
// that use short: the worker was killed before own was sent (before own's
// worker could take the store's lock) and never refreshed that merchant
// again, so it died in the rotation window, between sending the request and
// saving the new token.
func explain(prior []*use, own *use, saved map[string]bool, last map[procMerchant]*use, lostFaults bool) string {
	if len(prior) == 0 {
		return causeRevokedFamily // its first presentation was rejected
	}
	cause := ""
	for _, u := range prior {
		killedAt := u.p.killedAt.Load()
		cutShort := killedAt != 0 && (own == nil || killedAt <= own.at) && last[procMerchant{u.p, u.merchant}] == u
		switch {
		case u.status == http.StatusOK && (saved[u.child] || !cutShort):
			// Rotated, yet the old token was used again while the new one
			// was saved or held by a live worker.
			return causeUnexplained
		case u.status == http.StatusOK:
			cause = causeKillBeforeSave
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
