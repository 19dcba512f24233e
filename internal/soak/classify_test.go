package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassify(t *testing.T) {
	alive := func() *proc { return &proc{} }
	killedAt := func(at int64) *proc {
		p := &proc{}
		p.killedAt.Store(at)
		return p
	}
	killed := func() *proc { return killedAt(1) }
	r := func(at int64, p *proc, fp string) tokEvent { return tokEvent{at: at, kind: "R+", fp: fp, p: p} }
	answered := func(at int64, p *proc, fp string, status int, newFP string) tokEvent {
		return tokEvent{at: at, kind: "R-", fp: fp, status: status, newFP: newFP, p: p}
	}
	savedEv := func(at int64, p *proc, fp string) tokEvent {
		return tokEvent{at: at, kind: "S-", fp: fp, ok: true, p: p}
	}
	g := func(at int64, p *proc, fp string) tokEvent { return tokEvent{at: at, kind: "G", fp: fp, p: p} }
	// A save fault: kept, the token reached the store anyway; else it
	// waits in the worker's memory.
	saveFault := func(at int64, p *proc, fp string, kept bool) tokEvent {
		return tokEvent{at: at, kind: "SF", fp: fp, ok: kept, p: p}
	}
	// Merchants dropped p's idle source, which held fp waiting to be
	// saved, no earlier than at.
	dropped := func(at int64, p *proc, fp string) tokEvent { return tokEvent{at: at, kind: "D", fp: fp, p: p} }
	rotated := func(p *proc) []tokEvent { return []tokEvent{r(1, p, "A"), answered(2, p, "A", 200, "B")} }

	tests := []struct {
		name string
		evs  func() []tokEvent
		want string
	}{
		{"killed before the answer", func() []tokEvent {
			p1, p2 := killed(), alive()
			return []tokEvent{g(4, p2, "A"), r(1, p1, "A"), r(3, p2, "A")} // out of order on purpose
		}, causeKillBeforeAnswer},
		{"killed before the save", func() []tokEvent {
			p1, p2 := killed(), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(3, p2, "A"), g(4, p2, "A")}
		}, causeKillBeforeSave},
		{"saved, then its parent used again", func() []tokEvent {
			p1, p2 := killed(), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), savedEv(3, p1, "B"), r(4, p2, "A"), g(5, p2, "A")}
		}, causeUnexplained},
		{"answer lost, worker alive", func() []tokEvent {
			p1, p2 := alive(), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 0, "-"), r(3, p2, "A"), g(4, p2, "A")}
		}, causeLostResponse},
		{"first use rejected: the family was revoked", func() []tokEvent {
			p := alive()
			return []tokEvent{r(1, p, "C"), g(2, p, "C")}
		}, causeRevokedFamily},
		{"answer lost, then the worker was killed", func() []tokEvent {
			p1, p2 := killed(), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 0, "-"), r(3, p2, "A"), g(4, p2, "A")}
		}, causeLostResponse},
		{"answer lost, the same worker tried again", func() []tokEvent {
			p := alive()
			return []tokEvent{r(1, p, "A"), answered(2, p, "A", 0, "-"), r(3, p, "A"), g(4, p, "A")}
		}, causeLostResponse},
		{"killed only after the other worker's refresh", func() []tokEvent {
			p1, p2 := killedAt(5), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(3, p2, "A"), g(4, p2, "A")}
		}, causeUnexplained},
		{"killed at the very moment of the other worker's refresh", func() []tokEvent {
			p1, p2 := killedAt(3), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(3, p2, "A"), g(4, p2, "A")}
		}, causeKillBeforeSave},
		{"killed, but it refreshed the merchant again after the rotation", func() []tokEvent {
			p1, p2 := killedAt(5), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(3, p1, "C"), answered(4, p1, "C", 503, "-"), r(6, p2, "A"), g(7, p2, "A")}
		}, causeUnexplained},
		{"killed without an answer, but it refreshed the merchant again", func() []tokEvent {
			p1, p2 := killedAt(5), alive()
			return []tokEvent{r(1, p1, "A"), r(3, p1, "C"), r(6, p2, "A"), g(7, p2, "A")}
		}, causeUnexplained},
		{"rotated and saved, the old one used again after the kill", func() []tokEvent {
			p1, p2 := killedAt(4), alive()
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(5, p2, "A"), g(6, p2, "A"), savedEv(3, p1, "B")}
		}, causeUnexplained},
		{"stopped by the end of the run, then the final check", func() []tokEvent {
			p1 := killedAt(3)
			final := &proc{slot: -1}
			return []tokEvent{r(1, p1, "A"), answered(2, p1, "A", 200, "B"), r(4, final, "A"), g(5, final, "A")}
		}, causeKillBeforeSave},
		{"save fault, another worker refreshed with the stored token", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), r(4, p2, "A"), g(5, p2, "A"))
		}, causeSaveFault},
		{"save fault, the waiting token saved later", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), r(4, p2, "A"), g(5, p2, "A"), savedEv(6, p1, "B"))
		}, causeSaveFault},
		{"save fault, the waiting token saved before the other worker's refresh", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), savedEv(4, p1, "B"), r(5, p2, "A"), g(6, p2, "A"))
		}, causeUnexplained},
		{"save fault that kept the token", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", true), r(4, p2, "A"), g(5, p2, "A"))
		}, causeUnexplained},
		{"save fault, the same worker refreshed with the used token", func() []tokEvent {
			p := alive()
			return append(rotated(p), saveFault(3, p, "B", false), r(4, p, "A"), g(5, p, "A"))
		}, causeUnexplained},
		{"save fault, killed with the token waiting", func() []tokEvent {
			p1, p2 := killedAt(4), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), r(5, p2, "A"), g(6, p2, "A"))
		}, causeKillPending},
		{"save fault, an idle drop lost the waiting token", func() []tokEvent {
			p := alive()
			return append(rotated(p), saveFault(3, p, "B", false), dropped(4, p, "B"), r(5, p, "A"), g(6, p, "A"))
		}, causeIdleDropPending},
		{"save fault, an idle drop lost the waiting token, another worker refreshed", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), dropped(4, p1, "B"), r(5, p2, "A"), g(6, p2, "A"))
		}, causeIdleDropPending},
		{"save fault, another worker refreshed before the idle drop could happen", func() []tokEvent {
			p1, p2 := alive(), alive()
			return append(rotated(p1), saveFault(3, p1, "B", false), r(4, p2, "A"), g(5, p2, "A"), dropped(6, p1, "B"))
		}, causeSaveFault},
		{"used twice by a live worker that got the first answer", func() []tokEvent {
			p := alive()
			return []tokEvent{r(1, p, "A"), answered(2, p, "A", 200, "B"), r(3, p, "A"), g(4, p, "A")}
		}, causeUnexplained},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := &tally{tokEvents: tc.evs()}
			got := countCauses(tl.classify(true))
			assert.Equal(t, map[string]int{tc.want: 1}, got)
		})
	}
}
