package fakeuc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
)

// InMemory returns an http.RoundTripper that serves each request with h in
// memory, on the caller's goroutine: no network and no goroutine of its
// own. A test can then run in a testing/synctest bubble, where a device
// flow's poll interval passes at no cost. A handler that panics with
// http.ErrAbortHandler drops the connection, as a server does: the request
// fails with a connection reset. A request whose context ends while h runs
// fails with the context's error, as a client gives up on a server that
// hangs.
func InMemory(h http.Handler) http.RoundTripper { return memTransport{h} }

type memTransport struct{ h http.Handler }

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
			resp, err = nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		} else if p != nil {
			panic(p)
		}
	}()
	m.h.ServeHTTP(rec, in)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp = rec.Result()
	resp.Request = r
	return resp, nil
}

// Transport returns InMemory with the handler the listener uses. Create the
// Server outside a synctest bubble, since its listener's goroutine waits on
// the network. The faults that need a connection (Reset, Truncate and
// LoseResponse) reset it, and so does a closed Server.
func (s *Server) Transport() http.RoundTripper {
	return InMemory(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			panic(http.ErrAbortHandler)
		}
		// Not through serveHTTP: Close need not wait for a caller's own
		// goroutine, and a WaitGroup used in a bubble cannot be waited on
		// outside it.
		s.serve(w, r)
	}))
}
