package fakeuc

import (
	"errors"
	"net/http"
	"net/http/httptest"
)

// errDropped is what a request served in memory fails with when the fake
// drops its connection, as a client sees a reset over the network.
var errDropped = errors.New("fakeuc: connection dropped")

// Transport returns an http.RoundTripper that serves requests in memory, on
// the caller's goroutine, with the handler the listener uses: no network and
// no goroutine of its own. A test can then run in a testing/synctest bubble,
// where a device flow's poll interval passes at no cost; create the Server
// outside the bubble, since its listener's goroutine waits on the network.
// The faults that need a connection (Reset, Truncate and LoseResponse) fail
// the request with an error, as a reset does, and so does a closed Server.
func (s *Server) Transport() http.RoundTripper { return memTransport{s} }

type memTransport struct{ s *Server }

func (m memTransport) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer in.Body.Close()
	in.Host, in.RequestURI, in.RemoteAddr = r.URL.Host, r.URL.RequestURI(), "127.0.0.1:1"
	rec := httptest.NewRecorder()
	defer func() {
		if p := recover(); p == http.ErrAbortHandler {
			resp, err = nil, errDropped
		} else if p != nil {
			panic(p)
		}
	}()
	m.s.mu.Lock()
	closed := m.s.closed
	m.s.mu.Unlock()
	if closed {
		return nil, errDropped
	}
	// Not through serveHTTP: Close need not wait for a caller's own
	// goroutine, and a WaitGroup used in a bubble cannot be waited on
	// outside it.
	m.s.serve(rec, in)
	resp = rec.Result()
	resp.Request = r
	return resp, nil
}
