package fakeuc

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"time"
)

// Fault makes the server answer requests to one path with a failure instead
// of its normal answer. A faulted request still counts in Stats and
// Requests, but changes no state (a code stays unused, a refresh token
// stays alive, a device poll is not counted), except with LoseResponse.
type Fault struct {
	// Status is the HTTP status of the answer; 0 means 500, or 200 for a
	// Truncate fault. It is unused by a Reset fault.
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
	// reset (SO_LINGER 0 after hijacking the connection).
	Reset bool
	// Truncate sends the status and headers with a Content-Length larger
	// than Body, then Body, then closes the connection: the client sees a
	// truncated body (io.ErrUnexpectedEOF).
	Truncate bool
	// LoseResponse carries the request out as usual (a refresh rotates the
	// refresh token), then closes the connection without an answer, as a
	// reset: the server has moved on and the client never learns to what.
	// It is the one fault that changes state.
	LoseResponse bool
	// Times is how many requests the fault applies to; 0 (or less) means
	// every request until ClearFaults.
	Times int
	// Rate, between 0 and 1, is the share of requests the fault applies
	// to, drawn at random for each request; 0 (or 1 or more) means every
	// request. A request the fault does not apply to uses up none of its
	// Times and is offered to the next fault of the queue.
	Rate float64
}

// truncateExtra is how many bytes more than Body a Truncate fault declares.
const truncateExtra = 64

// Fail queues a fault for requests to path (the URL path, e.g. TokenPath),
// whatever their method. Faults of one path apply in the order they were
// queued: a fault with Times 0 stays at the head of its queue until
// ClearFaults, and a fault with a Rate lets the requests it skips through to
// the next one.
func (s *Server) Fail(path string, f Fault) {
	f.Header = f.Header.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], &f)
}

// ClearFaults removes every queued fault of every path.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// takeFault returns the fault for one request to path, if any, and uses it
// up. s.mu must be held.
func (s *Server) takeFault(path string) *Fault {
	q := s.faults[path]
	for i, f := range q {
		if f.Rate > 0 && f.Rate < 1 && rand.Float64() >= f.Rate {
			continue
		}
		if f.Times <= 0 {
			return f // every request, until ClearFaults
		}
		f.Times--
		if f.Times == 0 {
			q = slices.Delete(q, i, i+1)
			if len(q) == 0 {
				delete(s.faults, path)
			} else {
				s.faults[path] = q
			}
		}
		out := *f
		return &out
	}
	return nil
}

// countFault counts a fault being served.
func (s *Server) countFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.stats.Faults
	switch {
	case f.LoseResponse:
		c.LostResponse++
	case f.Reset:
		c.Reset++
	case f.Truncate:
		c.Truncated++
	default:
		c.Status++
	}
}

// serveFault answers r with f instead of its normal answer; carry serves
// the request as usual, for LoseResponse.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *Fault, carry func(http.ResponseWriter)) {
	if f.Delay > 0 {
		s.mu.Lock()
		s.stats.Faults.Delayed++
		s.mu.Unlock()
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // answer nothing
		case <-s.done:
			panic(http.ErrAbortHandler)
		}
	}
	s.countFault(f)
	if f.LoseResponse {
		carry(discard{})
	}
	switch {
	case f.Reset || f.LoseResponse:
		conn, _, err := hijack(w)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	case f.Truncate:
		conn, buf, err := hijack(w)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		h := f.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
		h.Set("Connection", "close")
		fmt.Fprintf(buf, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
		_ = h.Write(buf)
		fmt.Fprintf(buf, "Content-Length: %d\r\n\r\n%s", len(f.Body)+truncateExtra, f.Body)
		_ = buf.Flush()
		_ = conn.Close()
	default:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		h := w.Header()
		for k, vs := range f.Header {
			h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = nil // suppress content sniffing
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
	}
}

// hijack takes the connection over from the HTTP server.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.Writer, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return conn, rw.Writer, nil
}

// discard is a ResponseWriter that drops the answer of a request whose
// response is lost.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
