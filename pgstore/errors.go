package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrConflict is matched by the error of a Save under the lock (see
// [Store.For]) that found the merchant's row changed (saved by another
// holder, or by the authorization callback, or deleted) since the lock was
// taken or the token loaded. The row keeps the newer token, which
// [ultracart.PersistentTokenSource] adopts on its next call.
var ErrConflict = errors.New("ultracart: pgstore: the stored token changed since it was loaded; the newer token is kept")

// dbErr is an error of the database, with what the store was doing.
type dbErr struct {
	msg  string
	conn bool // a connection failure, not an answer of the server
	err  error
}

func (e *dbErr) Error() string {
	if e.conn {
		return "ultracart: pgstore: " + e.msg + ": database connection failed: " + e.err.Error()
	}
	return "ultracart: pgstore: " + e.msg + ": " + e.err.Error()
}

func (e *dbErr) Unwrap() error { return e.err }

// Temporary reports whether a retry can help: the connection failed or
// timed out, or the server is shutting down, starting up, out of
// connections, or chose the statement as a deadlock or serialization
// victim.
func (e *dbErr) Temporary() bool {
	if e.conn || errors.Is(e.err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(e.err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, cannot connect now
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return true
		}
	}
	return false
}

// dbError wraps an error of pgx, saying whether the connection failed.
func dbError(msg string, err error) error {
	return &dbErr{msg: msg, conn: connFailure(err), err: err}
}

// connFailure reports whether err is a failure to reach or keep talking to
// the server, rather than an answer from it.
func connFailure(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Sessions ended by the server (idle timeout, terminate, shutdown).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed")
}
