package fakeuc

import (
	"net/http"
	"net/url"
)

// Stats counts the requests the server received per endpoint, whatever
// their outcome, faulted ones included, and what the token endpoint did
// with them. Each request counter counts only requests with the endpoint's
// method: GET for Authorize and API, POST for the others.
type Stats struct {
	Authorize   int // GET AuthorizePath
	Token       int // every POST to TokenPath, whatever its grant_type
	Exchange    int // POST TokenPath with grant_type=authorization_code
	Refresh     int // POST TokenPath with grant_type=refresh_token
	Device      int // POST DeviceAuthPath
	DeviceToken int // POST TokenPath with the device_code grant_type
	Revoke      int // POST RevokePath
	API         int // GET ItemsPath

	// Rotations counts the refreshes carried out: new tokens issued for a
	// refresh token, whether or not the answer reached the client.
	Rotations int
	// GraceReuses counts the refreshes carried out with a used refresh
	// token within Options.ReuseGrace.
	GraceReuses int
	// ReuseDetected counts the used refresh tokens presented after the
	// grace period while Options.ReuseDetection is set.
	ReuseDetected int
	// FamiliesRevoked counts the token families revoked by a detected
	// reuse (the revoke endpoint counts in Revoke).
	FamiliesRevoked int
	// InvalidGrant counts the invalid_grant answers, of every grant type.
	InvalidGrant int

	// Faults counts the requests answered with a queued Fault, by kind.
	Faults FaultStats
}

// FaultStats counts the faults served, by kind. A fault with a Delay counts
// in Delayed and in the kind of its answer, unless the client went away
// during the delay.
type FaultStats struct {
	Status       int // answered with a status (Fault.Status, or 500)
	Reset        int // connection reset without an answer (Fault.Reset)
	Truncated    int // truncated body (Fault.Truncate)
	LostResponse int // carried out, then reset (Fault.LoseResponse)
	Delayed      int // held for Fault.Delay first
}

// Request is one request the server saw.
type Request struct {
	Method string      // the HTTP method
	Path   string      // the URL path, without the query
	Header http.Header // the request headers
	// Form is the parsed form of a POST, PUT or PATCH body, or else the
	// URL query.
	Form url.Values
}

// count updates the statistics for r. s.mu must be held.
func (s *Server) count(r *http.Request, form url.Values) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == AuthorizePath:
		s.stats.Authorize++
	case r.Method == http.MethodGet && r.URL.Path == ItemsPath:
		s.stats.API++
	case r.Method != http.MethodPost:
	case r.URL.Path == DeviceAuthPath:
		s.stats.Device++
	case r.URL.Path == RevokePath:
		s.stats.Revoke++
	case r.URL.Path == TokenPath:
		s.stats.Token++
		switch form.Get("grant_type") {
		case GrantAuthorizationCode:
			s.stats.Exchange++
		case GrantRefreshToken:
			s.stats.Refresh++
		case GrantDeviceCode:
			s.stats.DeviceToken++
		}
	}
}

// Stats returns the request counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Requests returns copies of every request the server saw (the latest
// Options.KeepRequests of them when it is set), in arrival order, faulted
// and failed ones included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := s.requests
	if k := s.opts.KeepRequests; k > 0 && len(reqs) > k {
		reqs = reqs[len(reqs)-k:]
	}
	out := make([]Request, len(reqs))
	for i, r := range reqs {
		out[i] = r.clone()
	}
	return out
}

// LastRequest returns a copy of the last request the server saw for path,
// and false if it saw none.
func (s *Server) LastRequest(path string) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Path == path {
			return s.requests[i].clone(), true
		}
	}
	return Request{}, false
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Form = cloneValues(r.Form)
	return r
}
