package ultracart

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// NewContext returns a copy of ctx under whose oauth2.HTTPClient key an HTTP
// client (wrapping any client already there) translates UltraCart token
// responses into RFC 6749 form, so a plain *oauth2.Config works with
// UltraCart unchanged:
//
//   - expires_in is accepted as a JSON number or string, with white space
//     around it or a fraction (rounded down); an empty, null, missing,
//     unparseable or non-positive value means "expiry unknown" (a zero
//     Expiry) and never fails the exchange; a value over about 68 years is
//     clamped to that;
//   - an ErrorResponse envelope, an RFC 6749 error at any status (200
//     included) and a body that is not JSON all become an RFC 6749 error
//     that x/oauth2 reports as an *oauth2.RetrieveError, whose texts carry
//     no secret of the request;
//   - every request carries X-UltraCart-Api-Version unless it has one.
//
// Token requests are POSTs whose URL path ends in /oauth/token or
// /oauth/device/authorize; every other response passes through byte for
// byte. The client never follows a redirect to another origin (scheme, host
// and port): a token request so redirected fails with an RFC 6749 error (an
// *Error through Config), any other request with an *Error. NewContext on a
// context that already holds such a client returns ctx.
func NewContext(ctx context.Context) context.Context {
	parent := contextClient(ctx)
	if _, ok := parent.Transport.(*dialectTransport); ok {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{
		Transport:     &dialectTransport{base: parent.Transport, ctx: ctx},
		CheckRedirect: sameOriginRedirects(parent.CheckRedirect),
		Jar:           parent.Jar,
		Timeout:       parent.Timeout,
	})
}

// contextClient is the client that x/oauth2 would use with ctx.
func contextClient(ctx context.Context) *http.Client {
	if ctx != nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			return c
		}
	}
	return http.DefaultClient
}

// maxExpiresIn is the largest expires_in, in seconds, that NewContext passes
// on (about 68 years, the bound x/oauth2 itself applies to numbers); larger
// values are clamped to it.
const maxExpiresIn = math.MaxInt32

// syntheticCode is the RFC 6749 error code of a translated response that
// carried no code of its own: an ErrorResponse envelope, a body that is not
// JSON, a token response without an access token.
const syntheticCode = "ultracart_error"

// dialectTransport translates token-endpoint responses; see NewContext.
type dialectTransport struct {
	base http.RoundTripper
	// ctx is used for requests that come without a context of their own:
	// x/oauth2's DeviceAuth sends its request that way.
	ctx context.Context
}

func (t *dialectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := tokenRequestKind(req)
	// Only the device authorization request comes without the caller's
	// context; every other request keeps its own.
	noCtx := kind == deviceAuthCall && req.Context() == context.Background() && t.ctx != nil
	if noCtx || req.Header.Get(APIVersionHeader) == "" {
		ctx := req.Context()
		if noCtx {
			ctx = t.ctx
		}
		req = req.Clone(ctx)
		if req.Header.Get(APIVersionHeader) == "" {
			req.Header.Set(APIVersionHeader, APIVersion)
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if kind == notToken {
		return base.RoundTrip(req)
	}
	r := requestSecrets(req)
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if to, ok := foreignRedirect(req, resp); ok {
		// Refuse here rather than in CheckRedirect: http.Client would wrap
		// that in a *url.Error quoting the whole Location, whose query may
		// echo the request's secrets. Returned as the transport's error,
		// the *Error stays in the chain that x/oauth2 returns (its
		// *url.Error names only the token URL), so errors.As finds it
		// under a plain oauth2.Config too.
		drain(resp)
		e := newResponseError(resp.StatusCode, resp.Header, r)
		e.Description = "refused to follow a redirect to another origin (" + to + ")"
		return nil, e
	}
	return translate(resp, kind, r)
}

// foreignRedirect reports whether resp redirects req to another origin, and
// names that origin ("an unparsable URL" when the Location is not one).
func foreignRedirect(req *http.Request, resp *http.Response) (string, bool) {
	loc := resp.Header.Get("Location")
	if loc == "" || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return "", false
	}
	u, err := req.URL.Parse(loc)
	if err != nil {
		return "an unparsable URL", true
	}
	return origin(u), !sameOrigin(req.URL, u)
}

type requestKind int

const (
	notToken requestKind = iota
	tokenCall
	deviceAuthCall
)

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

// requestSecrets collects the secrets of a token request from a copy of
// its body, without consuming the body itself.
func requestSecrets(req *http.Request) *redactor {
	r := new(redactor)
	r.addAuthorization(req.Header.Get("Authorization"))
	if req.GetBody == nil {
		return r
	}
	body, err := req.GetBody()
	if err != nil {
		return r
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return r
	}
	if form, err := url.ParseQuery(string(b)); err == nil {
		r.addForm(form)
	}
	return r
}

// translate rewrites a token-endpoint response into RFC 6749 JSON. A body
// that breaks off is a transport error, so that the cause stays in the chain.
func translate(resp *http.Response, kind requestKind, r *redactor) (*http.Response, error) {
	body, e := readBody(resp, r)
	if e != nil && e.Err != nil {
		return nil, e
	}
	var out []byte
	if e == nil {
		out, e = translateBody(resp.StatusCode, resp.Header, body, kind, r)
	}
	if e != nil {
		out = encodeError(e)
	}
	return rewrite(resp, out, kind, r, e != nil), nil
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
// fields for x/oauth2, and under "ultracart" everything errorFromRetrieve
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
}

func encodeError(e *Error) []byte {
	w := wireError{Code: e.Code, Description: e.message(), URI: e.URI, Detail: &wireDetail{
		Status: e.StatusCode, Code: e.Code, Description: e.Description, URI: e.URI,
		DeveloperMessage: e.DeveloperMessage, UserMessage: e.UserMessage,
		MoreInfo: e.MoreInfo, ObjectID: e.ObjectID,
	}}
	if w.Code == "" {
		w.Code = syntheticCode
	}
	if w.URI == "" {
		w.URI = e.MoreInfo
	}
	b, _ := json.Marshal(w) // strings and ints only: cannot fail
	return b
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

// parseExpiresIn reads an expires_in value the way NewContext does: raw is
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
	if !isDecimal(s) {
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

// isDecimal reports whether s is a decimal number: an optional sign, digits
// with an optional fraction, and an optional exponent. It refuses what
// strconv.ParseFloat would also take: hexadecimal, "Inf", "NaN", underscores.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// sameOriginRedirects returns a CheckRedirect that refuses a redirect to
// another origin with an *Error, then defers to next (or to the standard
// limit of 10 redirects).
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(via[0].URL, req.URL) {
			e := &Error{Description: "refused to follow a redirect to another origin (" + origin(req.URL) + ")"}
			if req.Response != nil {
				e.StatusCode = req.Response.StatusCode
			}
			return e
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return &Error{Description: "stopped after 10 redirects"}
		}
		return nil
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + u.Host
}
