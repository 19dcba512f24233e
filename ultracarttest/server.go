package ultracarttest

import (
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// Paths served by a Server, relative to its URL.
const (
	// AuthorizePath is the browser link that starts the authorization code flow.
	AuthorizePath = fakeuc.AuthorizePath
	// TokenPath exchanges codes, refresh tokens and device codes for tokens.
	TokenPath = fakeuc.TokenPath
	// DeviceAuthPath starts the device authorization flow (RFC 8628).
	DeviceAuthPath = fakeuc.DeviceAuthPath
	// RevokePath revokes a grant by its access or refresh token.
	RevokePath = fakeuc.RevokePath
	// ItemsPath is a protected REST resource that lists two demo items. It
	// checks the bearer token (401) before the version header (400).
	ItemsPath = fakeuc.ItemsPath
)

// DefaultScope is the scope granted when the authorize link or IssueToken
// names none. The device authorization request must name one: without, it
// is answered invalid_request, as UltraCart's oauthDeviceAuthorize requires
// the scope.
const DefaultScope = fakeuc.DefaultScope

// Server is a fake UltraCart OAuth 2.0 authorization server and REST API
// listening on a loopback port. Create it with NewServer and stop it with
// Close. All its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:PORT", with no
	// path and no trailing slash.
	URL string

	s *fakeuc.Server
}

// NewServer starts a Server on 127.0.0.1 on a free port and returns it. It
// panics if it cannot listen, as net/http/httptest does. The caller must
// call Close when done.
//
// It starts with the zero Options (see Options for what that means); change
// them with SetOptions.
func NewServer() *Server {
	s := fakeuc.NewServer()
	return &Server{URL: s.URL, s: s}
}

// Endpoint returns the OAuth 2.0 endpoints of the server, with the client
// credentials sent in the request body (oauth2.AuthStyleInParams) as
// UltraCart expects.
func (s *Server) Endpoint() oauth2.Endpoint { return s.s.Endpoint() }

// Client returns an HTTP client for the server, like
// httptest.Server.Client. It uses no proxy and follows redirects as a plain
// http.Client does, so that it authorizes without a browser: a GET of the
// authorize link (see oauth2.Config.AuthCodeURL) with it ends at the
// redirect URL, with the code in its query. Close closes its idle
// connections.
func (s *Server) Client() *http.Client { return s.s.Client() }

// Close stops the server. It cancels every pending fault delay, closes every
// client connection, waits for the handlers to return and then returns; it
// does not wait for hung clients. Close may be called more than once.
func (s *Server) Close() { s.s.Close() }

// IssueToken mints a grant directly, without the browser flow, as if a
// user had approved the given scope (DefaultScope when empty). The token it
// returns has AccessToken, RefreshToken, TokenType "bearer", Expiry the
// server's time plus the token lifetime, ExpiresIn, and the scope as its
// "scope" extra. Any client_id may refresh it.
func (s *Server) IssueToken(scope string) *oauth2.Token { return s.s.IssueToken(scope) }

// ExpireAccessTokens makes every access token issued so far expired: the
// protected resource answers them 401, as if their lifetime had passed.
// Their refresh tokens stay valid, so callers can force a refresh. Access
// tokens issued later are not affected.
func (s *Server) ExpireAccessTokens() { s.s.ExpireAccessTokens() }

// Fault makes the server answer requests to one path with a failure instead
// of its normal answer. A faulted request still counts in Stats and
// Requests, but changes no state: a code stays unused, a refresh token
// stays alive, a device poll is not counted.
type Fault struct {
	// Status is the HTTP status of the answer; 0 means 500. It is unused
	// by a Reset fault.
	Status int
	// Body is the body as sent, verbatim.
	Body string
	// Header holds extra headers, e.g. Content-Type, UC-REST-ERROR,
	// Retry-After, or Location for a redirect. Without a Content-Type the
	// answer has none (no sniffing).
	Header http.Header
	// Delay is how long to wait before answering. The wait ends early, with
	// no answer, if the client goes away or the server closes.
	Delay time.Duration
	// Reset closes the TCP connection without an answer, as a connection
	// reset.
	Reset bool
	// Times is how many requests the fault applies to; 0 (or less) means
	// every request until ClearFaults.
	Times int
}

// Fail queues a fault for requests to path (the URL path, e.g. TokenPath),
// whatever their method. Faults of one path apply in the order they were
// queued; a fault with Times 0 stays at the head of its queue until
// ClearFaults.
func (s *Server) Fail(path string, f Fault) {
	s.s.Fail(path, fakeuc.Fault{Status: f.Status, Body: f.Body, Header: f.Header, Delay: f.Delay,
		Reset: f.Reset, Times: f.Times})
}

// ClearFaults removes every queued fault of every path.
func (s *Server) ClearFaults() { s.s.ClearFaults() }

// Stats counts requests the server received, whatever their outcome,
// faulted ones included, and the refreshes it carried out. The request
// counters count only requests with the endpoint's method: GET for API,
// POST for the others. Requests tells the rest, for instance the device
// flow's requests by their path and the exchanges by their grant_type.
type Stats struct {
	Token   int // every POST to TokenPath, whatever its grant_type
	Refresh int // POST TokenPath with grant_type=refresh_token
	API     int // GET ItemsPath

	// Rotations counts the refreshes carried out: new tokens issued for a
	// refresh token.
	Rotations int
}

// Stats returns the request counts so far.
func (s *Server) Stats() Stats {
	st := s.s.Stats()
	return Stats{Token: st.Token, Refresh: st.Refresh, API: st.API, Rotations: st.Rotations}
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

// Requests returns copies of every request the server saw, in arrival
// order, faulted and failed ones included.
func (s *Server) Requests() []Request {
	rs := s.s.Requests()
	out := make([]Request, len(rs))
	for i, r := range rs {
		out[i] = Request(r)
	}
	return out
}
