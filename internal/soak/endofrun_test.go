package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// TestEndOfRun replays the end of a run: the run stops just after a
// worker's refresh of merchant 0 was sent (or carried out) and before the
// new token was saved, and no other worker touches merchant 0 again, so
// its store still holds the used refresh token and the final check's
// refresh is the reuse that revokes the family (what failed CI once: 31 of
// 32 final tokens worked, with nothing unexplained). The final check must
// classify that invalid_grant through the same replay as the run's: a kill
// inside the rotation window or a lost response explains it, and the
// merchant is re-authorized and checked again; anything else fails the run,
// and so does a stored token that fails for another reason. Merchant 1's
// token is untouched and must work in every case.
func TestEndOfRun(t *testing.T) {
	type worker struct {
		killed       bool // before the final check (by the end of the run)
		answered     int  // the HTTP status it read; -1: none, it was killed first
		savedChild   bool // it saved the rotated token
		refreshAgain bool // it refreshed merchant 0 again after that
	}
	tests := []struct {
		name       string
		w          worker
		lost       bool // the run injected lost responses
		due        bool // the stored access token is due for a refresh
		corrupt    bool // merchant 0's store holds no valid token
		wantCause  string
		wantReauth bool
		wantPass   bool
	}{
		{name: "stopped after the answer, before the save", w: worker{killed: true, answered: 200},
			wantCause: causeKillBeforeSave, wantReauth: true, wantPass: true},
		{name: "stopped after the answer, before the save, access token due", w: worker{killed: true, answered: 200}, due: true,
			wantCause: causeKillBeforeSave, wantReauth: true, wantPass: true},
		{name: "stopped before the answer was read", w: worker{killed: true, answered: -1},
			wantCause: causeKillBeforeAnswer, wantReauth: true, wantPass: true},
		{name: "answer lost in a run with lost responses", w: worker{answered: 0}, lost: true,
			wantCause: causeLostResponse, wantReauth: true, wantPass: true},
		{name: "answer lost in a run without lost responses", w: worker{answered: 0},
			wantCause: causeUnexplained},
		{name: "a live worker got the answer and did not save it", w: worker{answered: 200},
			wantCause: causeUnexplained},
		{name: "the rotated token was saved, yet the old one is stored", w: worker{killed: true, answered: 200, savedChild: true},
			wantCause: causeUnexplained},
		{name: "killed, but it refreshed the merchant again after the use", w: worker{killed: true, answered: 200, refreshAgain: true},
			wantCause: causeUnexplained},
		{name: "a stored token that fails for another reason", w: worker{killed: true, answered: 200}, corrupt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeuc.NewServer()
			defer srv.Close()
			srv.SetOptions(fakeuc.Options{ReuseDetection: true, TokenLifetime: 24 * time.Second})
			dir := t.TempDir()
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
			tok := srv.IssueToken("")
			if tc.due {
				tok.Expiry = time.Now().Add(-time.Second)
			}
			require.NoError(t, ultracart.NewFileStore(storePath(dir, 0)).Save(ctx, tok))
			require.NoError(t, ultracart.NewFileStore(storePath(dir, 1)).Save(ctx, srv.IssueToken("")))
			if tc.corrupt {
				require.NoError(t, os.WriteFile(storePath(dir, 0), []byte("{not json"), 0o600))
			}

			// The worker's refresh, carried out by the server.
			child, err := refreshOnce(ctx, srv, tok.RefreshToken)
			require.NoError(t, err)
			fpA, fpB := fingerprint(tok.RefreshToken), fingerprint(child.RefreshToken)
			w := &proc{slot: 0, gen: 1}
			now := time.Now().UnixNano()
			evs := []tokEvent{{at: now - 5000, kind: "R+", merchant: 0, fp: fpA, p: w}}
			if tc.w.answered >= 0 {
				ev := tokEvent{at: now - 4000, kind: "R-", merchant: 0, fp: fpA, status: tc.w.answered, newFP: "-", p: w}
				if tc.w.answered == 200 {
					ev.newFP = fpB
				}
				evs = append(evs, ev)
			}
			if tc.w.savedChild {
				evs = append(evs, tokEvent{at: now - 3000, kind: "S-", merchant: 0, fp: fpB, ok: true, p: w})
			}
			if tc.w.refreshAgain {
				evs = append(evs, tokEvent{at: now - 2000, kind: "R+", merchant: 0, fp: "0badf00d", p: w},
					tokEvent{at: now - 1500, kind: "R-", merchant: 0, fp: "0badf00d", status: 503, newFP: "-", p: w})
			}
			if tc.w.killed {
				w.killedAt.Store(now - 1000)
			}
			tl := &tally{tokEvents: evs, recent: map[int][]string{}, start: time.Now()}

			res := endCheck(srv, dir, workerConfig{merchants: 2}, tl, tc.lost)

			st := srv.Stats()
			var out strings.Builder
			report(&out, soakConfig{worker: workerConfig{merchants: 2}}, tl, st, time.Second, res, countCauses(res.judged), res.pass())
			if res.pass() {
				assert.Contains(t, out.String(), "final stored tokens:     2 of 2 work (1 of them after a re-authorization at the end)\n")
				assert.Contains(t, out.String(), "verdict: PASS\n")
			} else {
				assert.Contains(t, out.String(), "merchant 0: the final stored token does not work (")
				assert.Contains(t, out.String(), "verdict: FAIL\n")
			}
			if tc.corrupt {
				assert.Empty(t, res.judged, "no invalid_grant: the store could not be read")
				assert.Equal(t, 1, res.working)
				require.Len(t, res.failed, 1)
				assert.Equal(t, 0, res.failed[0].merchant)
				assert.Equal(t, 0, res.reauthorized)
				assert.False(t, res.pass())
				assert.Equal(t, 1, st.Rotations, "the final check refreshed nothing")
				return
			}
			assert.Equal(t, map[string]int{tc.wantCause: 1}, countCauses(res.judged))
			assert.Equal(t, 1, res.finalInvalidGrant())
			assert.Equal(t, 1, st.ReuseDetected, "the final check's refresh was the reuse")
			assert.Equal(t, 1, st.FamiliesRevoked)
			assert.Equal(t, tc.wantPass, res.pass())
			stored, err := ultracart.NewFileStore(storePath(dir, 0)).Load(ctx)
			require.NoError(t, err)
			if tc.wantReauth {
				assert.Equal(t, 1, res.reauthorized)
				assert.Equal(t, 2, res.working)
				assert.Empty(t, res.failed)
				assert.NotEqual(t, fpA, fingerprint(stored.RefreshToken), "a new grant replaced the revoked one")
			} else {
				assert.Equal(t, 0, res.reauthorized)
				assert.Equal(t, 1, res.working)
				assert.Equal(t, []endFailed{{0, "invalid_grant, " + causeUnexplained}}, res.failed)
				assert.Equal(t, fpA, fingerprint(stored.RefreshToken), "no re-authorization hides it")
			}
			// What the final check asked of the server: merchant 0's used
			// refresh token once (after a 401 when its access token still
			// looked valid), merchant 1 nothing but the API.
			var refreshes []string
			for _, r := range srv.Requests() {
				if r.Path == fakeuc.TokenPath {
					refreshes = append(refreshes, fingerprint(r.Form.Get("refresh_token")))
				}
			}
			assert.Equal(t, []string{fpA, fpA}, refreshes, "the worker's refresh, then the final check's")
		})
	}
}

// refreshOnce redeems refreshToken at srv, as a worker does, and returns
// the answer the worker would have lost.
func refreshOnce(ctx context.Context, srv *fakeuc.Server, refreshToken string) (*oauth2.Token, error) {
	return oauthConfig(srv.URL).TokenSource(ultracart.NewContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
}
