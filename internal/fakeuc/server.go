package fakeuc

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Paths served by a Server, relative to its URL.
const (
	// AuthorizePath is the browser link that starts the authorization code flow.
	AuthorizePath = "/rest/v2/oauth/authorize"
	// TokenPath exchanges codes, refresh tokens and device codes for tokens.
	TokenPath = "/rest/v2/oauth/token"
	// DeviceAuthPath starts the device authorization flow (RFC 8628).
	DeviceAuthPath = "/rest/v2/oauth/device/authorize"
	// DevicePath is the verification page a device flow user is sent to. The
	// server answers it with a placeholder page; the fake approves devices by
	// itself (see Options.DevicePending and Options.Deny).
	DevicePath = "/rest/v2/oauth/device"
	// RevokePath revokes a grant by its access or refresh token.
	RevokePath = "/rest/v2/oauth/revoke"
	// ItemsPath is a protected REST resource that lists two demo items. It
	// checks the bearer token (401) before the version header (400).
	ItemsPath = "/rest/v2/item/items"
)

// APIVersion is the value the protected resource requires in the
// X-UltraCart-Api-Version request header.
const APIVersion = "2017-03-01"

// DefaultScope is the scope granted when the authorize link or IssueToken
// names none. The device authorization request must name one: without, it
// is answered invalid_request, as UltraCart's oauthDeviceAuthorize requires
// the scope.
const DefaultScope = "item_read"

// Header names used by the server.
const (
	// ErrorHeader carries the human readable description of every error
	// answer, as UltraCart's UC-REST-ERROR header does.
	ErrorHeader = "UC-REST-ERROR"
	// versionHeader is the request header that names the API version,
	// ultracart.APIVersionHeader (this package cannot import the library,
	// whose own tests import it).
	versionHeader = "X-UltraCart-Api-Version"
)

// Lifetimes of the short-lived credentials.
const (
	// CodeLifetime is how long an authorization code can be exchanged.
	CodeLifetime = 10 * time.Minute
	// DeviceCodeLifetime is how long a device code can be polled; it is the
	// expires_in of the device authorization response.
	DeviceCodeLifetime = 10 * time.Minute
)

// Server is a fake UltraCart OAuth 2.0 authorization server and REST API
// listening on a loopback port. Create it with NewServer and stop it with
// Close. All its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:PORT", with no
	// path and no trailing slash.
	URL string

	listener net.Listener
	srv      *http.Server
	client   *http.Client
	served   chan struct{} // closed when Serve returns
	done     chan struct{} // closed by Close; cancels fault delays
	closeOne sync.Once
	inflight sync.WaitGroup

	mu     sync.Mutex
	closed bool

	opts Options

	// state
	codes   map[string]*authCode
	devices map[string]*deviceGrant
	access  map[string]*accessToken
	refresh map[string]*refreshToken

	// faults and records
	faults   map[string][]*Fault
	stats    Stats
	requests []Request
}

// NewServer starts a Server on 127.0.0.1 on a free port and returns it. It
// panics if it cannot listen, as net/http/httptest does. The caller must
// call Close when done.
//
// It starts with the zero Options (see Options for what that means); change
// them with SetOptions.
func NewServer() *Server {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("ultracarttest: failed to listen on 127.0.0.1: %v", err))
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		listener: ln,
		served:   make(chan struct{}),
		done:     make(chan struct{}),
		codes:    make(map[string]*authCode),
		devices:  make(map[string]*deviceGrant),
		access:   make(map[string]*accessToken),
		refresh:  make(map[string]*refreshToken),
		faults:   make(map[string][]*Fault),
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
	}}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s
}

// Endpoint returns the OAuth 2.0 endpoints of the server, with the client
// credentials sent in the request body (oauth2.AuthStyleInParams) as
// UltraCart expects.
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{
		AuthURL:       s.URL + AuthorizePath,
		DeviceAuthURL: s.URL + DeviceAuthPath,
		TokenURL:      s.URL + TokenPath,
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// Client returns an HTTP client for the server, like
// httptest.Server.Client. It uses no proxy and follows redirects as a plain
// http.Client does; Close closes its idle connections.
func (s *Server) Client() *http.Client {
	return s.client
}

// Close stops the server. It cancels every pending fault delay, closes every
// client connection, waits for the handlers to return and then returns; it
// does not wait for hung clients. Close may be called more than once.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		_ = s.srv.Close() // closes the listener and all tracked connections
		<-s.served
		s.inflight.Wait()
		if t, ok := s.client.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	})
}

// serveHTTP serves a request of the listener, which Close waits for.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	s.serve(w, r)
}

// serve records the request, applies a queued fault if there is one and
// otherwise routes it to its endpoint.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	formErr := r.ParseForm()
	form := r.URL.Query()
	if isBodyMethod(r.Method) {
		form = r.PostForm
	}
	rec := Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Header: r.Header.Clone(),
		Form:   cloneValues(form),
	}

	s.mu.Lock()
	s.count(r, form)
	s.requests = append(s.requests, rec)
	if k := s.opts.KeepRequests; k > 0 && len(s.requests) >= 2*k {
		s.requests = slices.Delete(s.requests, 0, len(s.requests)-k)
	}
	f := s.takeFault(r.URL.Path)
	s.mu.Unlock()

	if f != nil {
		s.serveFault(w, r, f, func(w http.ResponseWriter) { s.route(w, r, form, formErr) })
		return
	}
	s.route(w, r, form, formErr)
}

// route serves r at its endpoint.
func (s *Server) route(w http.ResponseWriter, r *http.Request, form url.Values, formErr error) {
	route, ok := routes[r.URL.Path]
	if !ok {
		writeEnvelope(w, http.StatusNotFound,
			"Resource not found.",
			"No resource is served at this path.",
			"Check the path against the UltraCart REST API reference.")
		return
	}
	if r.Method != route.method {
		w.Header().Set("Allow", route.method)
		writeEnvelope(w, http.StatusMethodNotAllowed,
			"Method not allowed.",
			"This resource only accepts "+route.method+".",
			"Use the method the UltraCart REST API reference gives for this resource.")
		return
	}
	route.handle(s, w, r, form, formErr)
}

// route is one endpoint of the server.
type route struct {
	method string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, form url.Values, formErr error)
}

var routes = map[string]route{
	AuthorizePath:  {http.MethodGet, (*Server).handleAuthorize},
	TokenPath:      {http.MethodPost, (*Server).handleToken},
	DeviceAuthPath: {http.MethodPost, (*Server).handleDeviceAuthorize},
	DevicePath:     {http.MethodGet, (*Server).handleDevicePage},
	RevokePath:     {http.MethodPost, (*Server).handleRevoke},
	ItemsPath:      {http.MethodGet, (*Server).handleItems},
}

func isBodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
