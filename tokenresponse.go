package ultracart

// The token-response translation: UltraCart's token and device
// authorization responses rewritten into the RFC 6749 form x/oauth2 reads,
// and both halves of the wire format of a translated error (encodeError
// writes it into the response; decodeError, through wrapError, reads it
// back from the error x/oauth2 returns). [NewContext] documents what the
// translation does.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// maxExpiresIn is the largest expires_in, in seconds, that [NewContext] passes
// on (about 68 years, the bound x/oauth2 itself applies to numbers); larger
// values are clamped to it.
const maxExpiresIn = math.MaxInt32

// syntheticCode is the RFC 6749 error code of a translated response that
// carried no code of its own: an ErrorResponse envelope, a body that is not
// JSON, a token response without an access token.
const syntheticCode = "ultracart_error"

// requestKind tells which response a request gets: a token response, a
// device authorization response, or one the translation leaves alone.
type requestKind int

const (
	notToken requestKind = iota
	tokenCall
	deviceAuthCall
)

// tokenRequestKind returns the kind of req: token requests are POSTs whose
// URL path ends in /oauth/token or /oauth/device/authorize.
func tokenRequestKind(req *http.Request) requestKind {
	if req.Method != http.MethodPost {
		return notToken
	}
	switch p := strings.TrimRight(req.URL.Path, "/"); {
	case strings.HasSuffix(p, "/oauth/token"):
		return tokenCall
	case strings.HasSuffix(p, "/oauth/device/authorize"):
		return deviceAuthCall
	}
	return notToken
}

// translate rewrites a token-endpoint response into RFC 6749 JSON. A body
// that breaks off is a transport error, so that the cause stays in the chain.
func translate(resp *http.Response, kind requestKind, grant string, r *redactor) (*http.Response, error) {
	body, e := readBody(resp, r)
	if e != nil && e.Err != nil {
		return nil, e
	}
	var out []byte
	if e == nil {
		out, e = translateBody(resp.StatusCode, resp.Header, body, kind, r)
	}
	if e != nil {
		e.refusedRefresh = grant == "refresh_token" && refusesRefresh(e)
		out = encodeError(e)
	}
	return rewrite(resp, out, kind, r, e != nil), nil
}

// refusesRefresh reports whether e, the answer to a refresh_token grant,
// refuses the refresh token in UltraCart's own form: its spec declares the
// token endpoint's errors as an ErrorResponse envelope with the
// UC-REST-ERROR header, without an RFC 6749 code. A 400 or 401 so made is
// UltraCart's verdict on the grant; a page a proxy sends is not.
func refusesRefresh(e *Error) bool {
	return e.Code == "" && (e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnauthorized) &&
		(e.RESTError != "" || e.DeveloperMessage != "" || e.UserMessage != "" || e.MoreInfo != "" || e.ObjectID != "")
}

// rewrite gives resp the translated body out, which is an error when
// failed, and headers without the request's secrets.
func rewrite(resp *http.Response, out []byte, kind requestKind, r *redactor, failed bool) *http.Response {
	resp.Header = resp.Header.Clone()
	if rest := resp.Header.Get("UC-REST-ERROR"); rest != "" {
		resp.Header.Set("UC-REST-ERROR", r.clean(rest))
	}
	if failed && kind == deviceAuthCall && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// x/oauth2 reads any 2xx device answer as a success: make it an error.
		resp.StatusCode, resp.Status = http.StatusBadGateway, "502 Bad Gateway"
	}
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.ContentLength = int64(len(out))
	resp.Body = io.NopCloser(bytes.NewReader(out))
	return resp
}

// wireError is the translated form of an error response: RFC 6749's three
// fields for x/oauth2, and under "ultracart" everything decodeError
// needs to rebuild the *Error.
type wireError struct {
	Code        string      `json:"error"`
	Description string      `json:"error_description,omitempty"`
	URI         string      `json:"error_uri,omitempty"`
	Detail      *wireDetail `json:"ultracart,omitempty"`
}

type wireDetail struct {
	Status           int    `json:"status"`
	Code             string `json:"code,omitempty"`
	Description      string `json:"description,omitempty"`
	URI              string `json:"uri,omitempty"`
	DeveloperMessage string `json:"developer_message,omitempty"`
	UserMessage      string `json:"user_message,omitempty"`
	MoreInfo         string `json:"more_info,omitempty"`
	ObjectID         string `json:"object_id,omitempty"`
	RefusedRefresh   bool   `json:"refused_refresh,omitempty"`
}

func encodeError(e *Error) []byte {
	w := wireError{Code: e.Code, Description: e.message(), URI: e.URI, Detail: &wireDetail{
		Status: e.StatusCode, Code: e.Code, Description: e.Description, URI: e.URI,
		DeveloperMessage: e.DeveloperMessage, UserMessage: e.UserMessage,
		MoreInfo: e.MoreInfo, ObjectID: e.ObjectID, RefusedRefresh: e.refusedRefresh,
	}}
	switch {
	case e.refusedRefresh:
		w.Code = "invalid_grant" // what x/oauth2's callers branch on
	case w.Code == "":
		w.Code = syntheticCode
	}
	if w.URI == "" {
		w.URI = e.MoreInfo
	}
	b, _ := json.Marshal(w) // strings and ints only: cannot fail
	return b
}

// decodeError rebuilds the *Error behind a RetrieveError whose body
// encodeError wrote: the other half of the wire format.
func decodeError(re *oauth2.RetrieveError) *Error {
	e := new(Error)
	if re.Response != nil {
		e = newResponseError(re.Response.StatusCode, re.Response.Header, nil)
	}
	e.Code, e.Description, e.URI, e.Err = re.ErrorCode, re.ErrorDescription, re.ErrorURI, re
	var w wireError
	if json.Unmarshal(re.Body, &w) == nil && w.Detail != nil {
		d := w.Detail
		e.StatusCode, e.Code, e.Description, e.URI = d.Status, d.Code, d.Description, d.URI
		e.DeveloperMessage, e.UserMessage, e.MoreInfo, e.ObjectID = d.DeveloperMessage, d.UserMessage, d.MoreInfo, d.ObjectID
		e.refusedRefresh = d.RefusedRefresh
	}
	return e
}

// wrapError returns the [*Error] that err carries or stands for: the one the
// transport or redirect check made, one rebuilt from an
// [*oauth2.RetrieveError], or a network failure with StatusCode 0. Other
// errors pass through unchanged.
func wrapError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return decodeError(re)
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Err: err}
	}
	return err
}

// translateBody returns the RFC 6749 form of a successful token-endpoint
// body, or the *Error that the body stands for.
func translateBody(status int, h http.Header, body []byte, kind requestKind, r *redactor) ([]byte, *Error) {
	m, ok := jsonObject(body)
	if !ok {
		m, ok = formObject(h, body)
	}
	if !ok {
		e := errorFromBody(status, h, body, r)
		if e.Description == "" {
			e.Description = "empty response"
		}
		return nil, e
	}
	foldMembers(m)
	e := newResponseError(status, h, r)
	if e.setFields(m, r) {
		return nil, e
	}
	if status < 200 || status > 299 {
		return nil, e // an error status with no error in the body
	}
	switch kind {
	case tokenCall:
		if jsonString(m["access_token"]) == "" || !allStrings(m, "access_token", "refresh_token", "token_type") {
			e.Description = "malformed token response: no access_token"
			return nil, e
		}
		setSeconds(m, "expires_in")
	case deviceAuthCall:
		if jsonString(m["device_code"]) == "" || !allStrings(m, "device_code", "user_code", "verification_uri", "verification_url", "verification_uri_complete") {
			e.Description = "malformed device authorization response: no device_code"
			return nil, e
		}
		setSeconds(m, "expires_in")
		setSeconds(m, "interval")
	}
	delete(m, "error")
	b, _ := json.Marshal(m) // values came from json.Unmarshal: cannot fail
	return b, nil
}

// oauth2Members are the members of a token or device authorization
// response that x/oauth2 reads.
var oauth2Members = []string{
	"access_token", "token_type", "refresh_token", "expires_in", "error", "error_description", "error_uri",
	"device_code", "user_code", "verification_uri", "verification_url", "verification_uri_complete", "interval",
}

// foldMembers gives every member that x/oauth2 reads the exact name the
// translation checks and fixes. x/oauth2 decodes with encoding/json, which
// takes a member spelled in any case for a field (folding as
// [strings.EqualFold] does: "EXPIRES_IN", even "expireſ_in"). Of several
// spellings of one name, a null counts for nothing (as in encoding/json),
// and then the exact one wins, else the last in byte order.
func foldMembers(m map[string]json.RawMessage) {
	moved := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, name := range oauth2Members {
			if k == name || !strings.EqualFold(k, name) {
				continue
			}
			v := m[k]
			delete(m, k)
			if cur, ok := m[name]; string(v) != "null" && (!ok || moved[name] || string(cur) == "null") {
				m[name], moved[name] = v, true
			}
		}
	}
}

// formObject reads a form-encoded token response as the JSON object it
// stands for, so that one translation serves both.
func formObject(h http.Header, body []byte) (map[string]json.RawMessage, bool) {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" && ct != "text/plain" {
		return nil, false
	}
	q, err := url.ParseQuery(string(body))
	if err != nil || (q.Get("access_token") == "" && q.Get("error") == "" && q.Get("device_code") == "") {
		return nil, false
	}
	m := make(map[string]json.RawMessage, len(q))
	for k := range q {
		m[k], _ = json.Marshal(q.Get(k))
	}
	return m, true
}

// allStrings reports whether each named member is absent, null or a string.
func allStrings(m map[string]json.RawMessage, names ...string) bool {
	for _, n := range names {
		raw, ok := m[n]
		if !ok {
			continue
		}
		var s *string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
	}
	return true
}

// setSeconds replaces member name with its value as a whole JSON number of
// seconds, or removes it when it does not give one.
func setSeconds(m map[string]json.RawMessage, name string) {
	raw, ok := m[name]
	if !ok {
		return
	}
	if n, ok := parseExpiresIn(raw); ok {
		m[name] = json.RawMessage(strconv.FormatInt(n, 10))
	} else {
		delete(m, name)
	}
}

// parseExpiresIn reads an expires_in value the way [NewContext] does: raw is
// the JSON value, a number or a string holding one, with white space around
// it or a fraction (rounded down). It returns the whole seconds, at most
// maxExpiresIn, and false when raw gives no positive number of seconds
// (empty, null, unparseable, zero or negative).
func parseExpiresIn(raw []byte) (int64, bool) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var str string
		if json.Unmarshal([]byte(s), &str) != nil {
			return 0, false
		}
		s = strings.TrimSpace(str)
	}
	if !decimal.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 1) { // a range error on a huge value is clamped below
		return 0, false
	}
	f = math.Floor(f)
	if !(f >= 1) {
		return 0, false
	}
	if f >= maxExpiresIn {
		return maxExpiresIn, true
	}
	return int64(f), true
}

// decimal is the syntax of the numbers parseExpiresIn reads: an optional
// sign, digits with an optional fraction, and an optional exponent. It
// refuses what strconv.ParseFloat would also take: hexadecimal, "Inf",
// "NaN", underscores.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
