package fakeuc_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// clock is a time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// refreshed refreshes rt and returns the new access and refresh tokens.
func refreshed(t *testing.T, s *fakeuc.Server, rt string) (string, string) {
	t.Helper()
	r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	m := decode(t, r.Body)
	return m["access_token"].(string), m["refresh_token"].(string)
}

func TestReuse(t *testing.T) {
	const grace = 30 * time.Second
	tests := []struct {
		name    string
		opts    fakeuc.Options
		after   time.Duration // between the first use and the reuse
		reuseOK bool          // the reuse is answered with tokens
		revoked bool          // the reuse revoked the family
	}{
		{name: "lenient", after: time.Hour},
		{name: "strict", opts: fakeuc.Options{ReuseDetection: true}, revoked: true},
		{name: "grace, 1ns before its end", opts: fakeuc.Options{ReuseDetection: true, ReuseGrace: grace},
			after: grace - time.Nanosecond, reuseOK: true},
		{name: "grace, at its end", opts: fakeuc.Options{ReuseDetection: true, ReuseGrace: grace},
			after: grace, revoked: true},
		{name: "grace without detection", opts: fakeuc.Options{ReuseGrace: grace},
			after: grace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			c := newClock()
			tc.opts.Clock = c.now
			tc.opts.TokenLifetime = 24 * time.Hour
			s.SetOptions(tc.opts)
			other := s.IssueToken("") // another family, never touched
			_, rt0 := tokens(t, s)
			at1, rt1 := refreshed(t, s, rt0)
			c.advance(tc.after)

			r := post(t, s, fakeuc.TokenPath, refreshForm(rt0))
			st := s.Stats()
			if tc.reuseOK {
				require.Equal(t, http.StatusOK, r.Status, r.Body)
				m := decode(t, r.Body)
				assert.NotEqual(t, rt1, m["refresh_token"])
				assert.Equal(t, http.StatusOK, items(t, s, m["access_token"].(string)).Status)
				assert.Equal(t, 1, st.GraceReuses)
				assert.Equal(t, 2, st.Rotations)
			} else {
				assertOAuthError(t, r, 400, fakeuc.CodeInvalidGrant)
				assert.Equal(t, 0, st.GraceReuses)
				assert.Equal(t, 1, st.Rotations)
				assert.Equal(t, 1, st.InvalidGrant)
			}
			if tc.revoked {
				assert.Equal(t, 1, st.ReuseDetected)
				assert.Equal(t, 1, st.FamiliesRevoked)
				assert.Equal(t, http.StatusUnauthorized, items(t, s, at1).Status, "the family's access token")
				assertOAuthError(t, post(t, s, fakeuc.TokenPath, refreshForm(rt1)), 400, fakeuc.CodeInvalidGrant)
				assert.Equal(t, 1, s.Stats().FamiliesRevoked, "a revoked family is revoked once")
			} else {
				assert.Equal(t, 0, st.ReuseDetected)
				assert.Equal(t, 0, st.FamiliesRevoked)
				assert.Equal(t, http.StatusOK, items(t, s, at1).Status, "the first use's tokens stay valid")
				refreshed(t, s, rt1)
			}
			assert.Equal(t, http.StatusOK, items(t, s, other.AccessToken).Status, "other families untouched")
			refreshed(t, s, other.RefreshToken)
		})
	}
}

func TestLostResponse(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Minute} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			s := newServer(t)
			c := newClock()
			s.SetOptions(fakeuc.Options{ReuseDetection: true, ReuseGrace: grace, Clock: c.now})
			_, rt := tokens(t, s)
			s.Fail(fakeuc.TokenPath, fakeuc.Fault{LoseResponse: true, Times: 1})
			_, err := s.Client().PostForm(s.URL+fakeuc.TokenPath, refreshForm(rt))
			require.Error(t, err, "the answer is lost")
			st := s.Stats()
			assert.Equal(t, 1, st.Rotations, "the server rotated")
			assert.Equal(t, 1, st.Faults.LostResponse)

			// The client can only try again with the refresh token it has.
			r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
			st = s.Stats()
			if grace > 0 {
				assert.Equal(t, http.StatusOK, r.Status, r.Body)
				assert.Equal(t, 1, st.GraceReuses)
				assert.Equal(t, 0, st.FamiliesRevoked)
			} else {
				assertOAuthError(t, r, 400, fakeuc.CodeInvalidGrant)
				assert.Equal(t, 1, st.FamiliesRevoked)
			}
		})
	}
}

func TestFaultRateAndCounts(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 503, Rate: 0.5})
		const n = 200
		faulted := 0
		for range n {
			if get(t, s, fakeuc.ItemsPath, nil, nil).Status == 503 {
				faulted++
			}
		}
		// Binomial(200, 0.5) falls outside [60, 140] with odds below 1e-8.
		assert.GreaterOrEqual(t, faulted, 60)
		assert.LessOrEqual(t, faulted, 140)
		assert.Equal(t, faulted, s.Stats().Faults.Status)
	})

	t.Run("a skipped request goes to the next fault", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 503, Rate: 1e-12})
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 502, Times: 1})
		assert.Equal(t, 502, get(t, s, fakeuc.ItemsPath, nil, nil).Status)
		assert.Equal(t, 401, get(t, s, fakeuc.ItemsPath, nil, nil).Status, "502 used up")
	})

	t.Run("kinds", func(t *testing.T) {
		s := newServer(t)
		for _, f := range []fakeuc.Fault{
			{Status: 503, Times: 1},
			{Reset: true, Times: 1},
			{Truncate: true, Body: "{", Times: 1},
			{Delay: time.Millisecond, Status: 502, Times: 1},
		} {
			s.Fail(fakeuc.ItemsPath, f)
		}
		for range 4 {
			if resp, err := s.Client().Get(s.URL + fakeuc.ItemsPath); err == nil {
				_ = resp.Body.Close()
			}
		}
		assert.Equal(t, fakeuc.FaultStats{Status: 2, Reset: 1, Truncated: 1, Delayed: 1}, s.Stats().Faults)
	})
}

func TestKeepRequests(t *testing.T) {
	s := newServer(t)
	s.SetOptions(fakeuc.Options{KeepRequests: 2})
	for i := range 7 {
		get(t, s, fakeuc.ItemsPath, url.Values{"n": {string(rune('0' + i))}}, nil)
	}
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "5", reqs[0].Form.Get("n"))
	assert.Equal(t, "6", reqs[1].Form.Get("n"))
	last, ok := s.LastRequest(fakeuc.ItemsPath)
	require.True(t, ok)
	assert.Equal(t, "6", last.Form.Get("n"))
	assert.Equal(t, 7, s.Stats().API)
}
