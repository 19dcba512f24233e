package ultracart

// UltraCart's errors: the [*Error] type and the sentinels to branch on, and
// the reading of an error from an answer in either of UltraCart's formats,
// which [CheckResponse], [Revoke] and the token-response translation share.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Error is an error that UltraCart reported, or a request to UltraCart that
// got no response. Branch on it with [errors.Is] and [ErrInvalidGrant],
// [ErrAccessDenied], [ErrInvalidRequest] or [ErrInvalidToken]; ask
// [Error.Temporary] whether a later retry may succeed.
//
// UltraCart reports errors in two formats, and Error holds either: an RFC 6749
// error ({"error": "invalid_grant", …}, also found in a redirect's query) or
// the REST API's ErrorResponse envelope ({"error": {"developer_message": …},
// "success": false}) with its UC-REST-ERROR header. A request that got no
// response at all (a refused connection, a timeout, a canceled context) has
// StatusCode 0 and the network error in Err. Err keeps the cause, so
// [errors.As] still finds an [*oauth2.RetrieveError] or a [*url.Error].
//
// Error texts never contain the access token, refresh token, authorization
// code, device code, client secret or state that the request carried.
type Error struct {
	StatusCode       int           // HTTP status; 0 when the error came from a redirect query or no response arrived
	Code             string        // RFC 6749 error code: invalid_grant, access_denied, invalid_request, …
	Description      string        // RFC 6749 error_description, or an excerpt of a body that was not JSON
	URI              string        // RFC 6749 error_uri
	DeveloperMessage string        // ErrorResponse.error.developer_message
	UserMessage      string        // ErrorResponse.error.user_message
	MoreInfo         string        // ErrorResponse.error.more_info
	ObjectID         string        // ErrorResponse.error.object_id
	RESTError        string        // the UC-REST-ERROR response header
	RetryAfter       time.Duration // the Retry-After response header, when it gave a number of seconds
	Err              error         // the cause, e.g. *oauth2.RetrieveError or *url.Error

	// refusedRefresh: the answer refused a refresh token in UltraCart's
	// ErrorResponse form, without an RFC 6749 code (see ErrInvalidGrant).
	refusedRefresh bool
}

// Error returns "ultracart: " followed by the code and the most useful message
// the response carried, and the HTTP status, as in
// "ultracart: invalid_grant: expired (HTTP 400)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ultracart: ")
	msg := e.message()
	switch {
	case e.Code != "" && msg != "":
		b.WriteString(e.Code + ": " + msg)
	case e.Code != "":
		b.WriteString(e.Code)
	case msg != "":
		b.WriteString(msg)
	case e.StatusCode == 0 && e.Err != nil:
		// No response: the cause is a network or context error, whose text
		// names at most the URL, never a form value.
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("request failed")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	return b.String()
}

// message is the first of the human-readable texts the response carried.
func (e *Error) message() string {
	for _, s := range []string{e.Description, e.DeveloperMessage, e.UserMessage, e.RESTError} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether e carries the error code of target, one of
// [ErrInvalidGrant], [ErrAccessDenied], [ErrInvalidRequest] or
// [ErrInvalidToken]. Two answers without a code match too: UltraCart's
// refusal of a refresh token in its ErrorResponse form matches
// ErrInvalidGrant (see there), and any other 401 matches ErrInvalidToken.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidGrant:
		return e.Code == "invalid_grant" || e.refusedRefresh
	case ErrAccessDenied:
		return e.Code == "access_denied"
	case ErrInvalidRequest:
		return e.Code == "invalid_request"
	case ErrInvalidToken:
		return e.Code == "invalid_token" || (e.Code == "" && e.StatusCode == http.StatusUnauthorized && !e.refusedRefresh)
	}
	return false
}

// Temporary reports whether trying again later may succeed: the status is
// 408, 429 or 5xx, or the request failed on a timeout or on a connection that
// broke (reset, or closed before the whole answer arrived). When the answer
// said how long to wait, [Error.RetryAfter] holds it.
func (e *Error) Temporary() bool {
	switch s := e.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500 && s <= 599:
		return true
	}
	return isTransient(e.Err)
}

// isTransient reports whether err is a timeout or a connection that broke
// before the whole answer arrived.
func isTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Errors to branch on with [errors.Is]. An [*Error] matches the first four
// (see [Error.Is]); [ParseCallback] returns [ErrStateMismatch] itself.
// [ErrInvalidToken] seldom reaches a caller of the client of [NewClient] or
// [Config.Client], which replaces a rejected token (see [Invalidator]).
var (
	// ErrInvalidGrant matches an *Error whose Code is "invalid_grant": the
	// authorization code or refresh token is no longer good, and the merchant
	// must authorize the application again. UltraCart's spec declares the
	// token endpoint's errors as an ErrorResponse envelope, which has no
	// such code: a 400 or 401 answer to a refresh in that form (an
	// envelope or the UC-REST-ERROR header, without an RFC 6749 code) is a
	// refused refresh token and matches too, with Code left empty and
	// Temporary false. The same answer to an authorization code or device
	// code matches nothing, since there it may as well mean a wrong
	// redirect URI or client; a body in neither of UltraCart's forms (a
	// proxy's page) never matches. The error of a PersistentTokenSource
	// whose token expired (or was rejected) and has no refresh token
	// matches too, for the same reason.
	ErrInvalidGrant = errors.New("ultracart: invalid_grant")
	// ErrAccessDenied matches an *Error whose Code is "access_denied": the
	// merchant declined to authorize the application.
	ErrAccessDenied = errors.New("ultracart: access_denied")
	// ErrInvalidRequest matches an *Error whose Code is "invalid_request"; in
	// a redirect it means the authorize link expired.
	ErrInvalidRequest = errors.New("ultracart: invalid_request")
	// ErrInvalidToken matches an *Error whose Code is "invalid_token" (RFC
	// 6750), and one of a 401 without a code: the REST API rejected the
	// access token as invalid, expired or revoked. The clients of NewClient
	// and Config.Client replace such a token and retry once by themselves
	// (see Invalidator); a 401 that still reaches their caller is one they
	// could not recover from.
	ErrInvalidToken = errors.New("ultracart: invalid_token")
	// ErrStateMismatch is returned by ParseCallback when the state in the
	// redirect is not the one the application sent.
	ErrStateMismatch = errors.New("ultracart: callback state does not match")
)

// CheckResponse returns nil for a 2xx response of the UltraCart REST API, and
// an [*Error] for any other, built from its status, UC-REST-ERROR header and
// ErrorResponse body. resp must not be nil: check the error of
// [http.Client.Do] (or Get) first.
//
// It reads at most 1 MiB of the body and puts what it read back into
// resp.Body, so the caller can still read it (and close it, as always).
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	var body []byte
	var readErr error
	if resp.Body != nil {
		body, readErr = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	var r redactor
	if resp.Request != nil {
		r.addAuthorization(resp.Request.Header.Get("Authorization"))
	}
	e := errorFromBody(resp.StatusCode, resp.Header, body, &r)
	e.Err = readErr
	return e
}

// newResponseError returns an *Error with the status and headers of a
// response; the body's content is added by the caller.
func newResponseError(status int, h http.Header, r *redactor) *Error {
	e := &Error{StatusCode: status, RESTError: r.clean(h.Get("UC-REST-ERROR"))}
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s >= 0 && time.Duration(s) <= (1<<63-1)/time.Second { // larger overflows
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// maxBody is the most the package reads of any response body.
const maxBody = 1 << 20

// readBody reads and closes the body of resp. A body that breaks off is an
// *Error with the cause in Err; a body over maxBody is an *Error too.
func readBody(resp *http.Response, r *redactor) ([]byte, *Error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	switch {
	case err != nil:
		e := newResponseError(resp.StatusCode, resp.Header, r)
		e.Description, e.Err = "reading the response body failed", err
		return nil, e
	case len(body) > maxBody:
		e := newResponseError(resp.StatusCode, resp.Header, r)
		e.Description = "response body exceeds 1 MiB"
		return nil, e
	}
	return body, nil
}

// errorFromBody returns the *Error that a response with this status, header
// and body stands for: an ErrorResponse envelope, an RFC 6749 error, a revoke
// answer's message or, for a body that is not a JSON object, an excerpt.
func errorFromBody(status int, h http.Header, body []byte, r *redactor) *Error {
	e := newResponseError(status, h, r)
	m, ok := jsonObject(body)
	if !ok {
		if len(strings.TrimSpace(string(body))) > 0 {
			e.Description = "unexpected response: " + excerpt(body, r)
		}
		return e
	}
	if !e.setFields(m, r) {
		e.Description = r.clean(jsonString(m["message"]))
	}
	return e
}

// setFields fills e from the error member of a JSON object, in either of
// UltraCart's formats, and reports whether the object carried an error.
func (e *Error) setFields(m map[string]json.RawMessage, r *redactor) bool {
	raw := m["error"]
	if code := jsonString(raw); code != "" {
		e.Code = r.clean(code)
		e.Description = r.clean(jsonString(m["error_description"]))
		e.URI = r.clean(jsonString(m["error_uri"]))
		return true
	}
	env, ok := jsonObject(raw)
	if !ok {
		return false
	}
	e.DeveloperMessage = r.clean(jsonString(env["developer_message"]))
	e.UserMessage = r.clean(jsonString(env["user_message"]))
	e.MoreInfo = r.clean(jsonString(env["more_info"]))
	e.ObjectID = r.clean(jsonString(env["object_id"]))
	return true
}

// jsonObject decodes b as a JSON object.
func jsonObject(b []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// jsonString returns a JSON string's value, a number's or boolean's text,
// and "" for anything else.
func jsonString(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64, bool:
		return strings.TrimSpace(string(raw))
	}
	return ""
}

// chainError is an error that adds context to a cause that may itself be an
// error of this package, so that "ultracart: " appears once in its text.
type chainError struct {
	msg  string
	errs []error // the cause last; a sentinel before it, when matched too
}

// chain returns an error reading "ultracart: msg: <cause>", whose chain
// holds errs (the cause last).
func chain(msg string, errs ...error) error { return &chainError{msg: msg, errs: errs} }

func (e *chainError) Error() string {
	cause := e.errs[len(e.errs)-1].Error()
	return "ultracart: " + e.msg + ": " + strings.TrimPrefix(cause, "ultracart: ")
}

func (e *chainError) Unwrap() []error { return e.errs }
