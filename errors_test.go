package ultracart

// The fuzz targets of the package read what a server or a browser sends:
// the token-response translation (tokenresponse_test.go), the two error
// formats and CheckResponse (here), ParseCallback (callback_test.go) and
// FileStore.Load (filestore_test.go). Their seeds run as ordinary tests; CI
// fuzzes each one for a short fixed time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzTranslate$' -fuzztime 30s .
//
// Each target splices known secrets into the input at a position the fuzzer
// chooses, and checks that no error text carries one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestError(t *testing.T) {
	reset := &url.Error{Op: "Post", URL: "u", Err: fmt.Errorf("read: %w", syscall.ECONNRESET)}
	for _, tt := range []struct {
		err       Error
		text      string
		temporary bool
	}{
		{Error{StatusCode: 400, Code: "invalid_grant", Description: "expired"}, "ultracart: invalid_grant: expired (HTTP 400)", false},
		{Error{Code: "access_denied"}, "ultracart: access_denied", false},
		{Error{StatusCode: 401, DeveloperMessage: "dev", UserMessage: "user", RESTError: "rest"}, "ultracart: dev (HTTP 401)", false},
		{Error{StatusCode: 404, RESTError: "rest"}, "ultracart: rest (HTTP 404)", false},
		{Error{StatusCode: 407}, "ultracart: request failed (HTTP 407)", false},
		{Error{StatusCode: 408}, "ultracart: request failed (HTTP 408)", true},
		{Error{StatusCode: 429, Code: "slow_down"}, "ultracart: slow_down (HTTP 429)", true},
		{Error{StatusCode: 499}, "ultracart: request failed (HTTP 499)", false},
		{Error{StatusCode: 500}, "ultracart: request failed (HTTP 500)", true},
		{Error{StatusCode: 599}, "ultracart: request failed (HTTP 599)", true},
		{Error{StatusCode: 600}, "ultracart: request failed (HTTP 600)", false},
		{Error{}, "ultracart: request failed", false},
		{Error{Err: context.DeadlineExceeded}, "ultracart: context deadline exceeded", true},
		{Error{Err: context.Canceled}, "ultracart: context canceled", false},
		{Error{Err: reset}, `ultracart: Post "u": read: connection reset by peer`, true},
		{Error{Err: errors.New("no such host")}, "ultracart: no such host", false},
	} {
		assert.Equal(t, tt.text, tt.err.Error())
		assert.Equal(t, tt.temporary, tt.err.Temporary(), "Temporary of %s", tt.text)
	}
}

// TestCheckResponse checks the fields CheckResponse reads from each of
// UltraCart's error formats; FuzzCheckResponse checks the rest.
func TestCheckResponse(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://uc.test/rest/v2/item/items", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+fzAccess)
	for _, tt := range []struct {
		status  int
		body    string
		headers http.Header
		want    *Error
	}{
		{200, `{"items":[]}`, nil, nil},
		{404, `{"error":{"developer_message":"no item","error_code":"404","object_id":"ITEM1"},"success":false}`, http.Header{"Uc-Rest-Error": {"Item not found"}},
			&Error{StatusCode: 404, DeveloperMessage: "no item", ObjectID: "ITEM1", RESTError: "Item not found"}},
		{429, `{"error":"rate_limited","error_description":"slow"}`, http.Header{"Retry-After": {"7"}},
			&Error{StatusCode: 429, Code: "rate_limited", Description: "slow", RetryAfter: 7 * time.Second}},
		{502, `<html>gateway ` + fzAccess + `</html>`, http.Header{"Content-Type": {"text/html"}},
			&Error{StatusCode: 502, Description: "unexpected response: <html>gateway [redacted]</html>"}},
	} {
		resp := &http.Response{StatusCode: tt.status, Header: tt.headers, Body: io.NopCloser(strings.NewReader(tt.body)), Request: req}
		err := CheckResponse(resp)
		if tt.want == nil {
			assert.NoError(t, err)
			continue
		}
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, *tt.want, *e)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, tt.body, string(body), "the body can still be read")
	}
}

// The secrets a fuzzed token request carries. The client secret has
// characters that URL encoding changes, so that the encoded form is
// exercised too. None starts with a hex digit or a letter of a Go or JSON
// escape: %#v writes a form feed as \f, so the text of "\f" + "z/…"
// would seem to carry a secret "fz/…" that the error does not hold.
const (
	fzCode    = "uc-code-FZ5b1f"
	fzSecret  = "zz/client+secret=77"
	fzRefresh = "uc-rt-FZ9e41"
	fzAccess  = "uc-at-FZ0c2d"
	fzDevice  = "uc-dc-FZ4411"
)

// fzSecrets are the fuzzed secrets in the forms a server may echo them:
// as sent in the form (URL-encoded) and decoded.
var fzSecrets = func() []string {
	var out []string
	for _, s := range []string{fzCode, fzSecret, fzRefresh, fzAccess, fzDevice} {
		out = append(out, s)
		if q := url.QueryEscape(s); q != s {
			out = append(out, q)
		}
	}
	return out
}()

// fzSplice inserts one of fzSecrets into b at a place chosen by n; n == 0
// leaves b as it is.
func fzSplice(b []byte, n uint16) []byte {
	if n == 0 {
		return b
	}
	s := fzSecrets[int(n)%len(fzSecrets)]
	pos := int(n/uint16(len(fzSecrets))) % (len(b) + 1)
	out := make([]byte, 0, len(b)+len(s))
	out = append(out, b[:pos]...)
	out = append(out, s...)
	return append(out, b[pos:]...)
}

func fzLeaks(text string) []string {
	var found []string
	for _, s := range fzSecrets {
		if strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

// fzCheckNoSecret fails t if err, formatted in any of the ways a program
// may log it, or any error in its chain carries a fuzzed secret.
func fzCheckNoSecret(t *testing.T, err error) {
	t.Helper()
	for _, text := range errorTexts(err) {
		if found := fzLeaks(text); len(found) > 0 {
			t.Fatalf("error text carries the secrets %q: %s", found, text)
		}
	}
}

// errorTexts returns err formatted with %v, %+v and %#v, and every error of
// its chain formatted with %v.
func errorTexts(err error) []string {
	texts := []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	queue := []error{err}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if e == nil {
			continue
		}
		texts = append(texts, e.Error())
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			queue = append(queue, u.Unwrap())
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
	return texts
}

// fzStatus maps any int onto a status line the HTTP client could read.
func fzStatus(n int) int {
	if n >= 100 && n <= 999 {
		return n // a seed's status stays as it is
	}
	if n < 0 {
		n = -(n + 1)
	}
	return 100 + n%900
}

// FuzzErrorFromBody reads any status, UC-REST-ERROR and Retry-After
// headers and body as an error response of a request that carried every
// fuzzed secret: it never panics, the *Error has the status, starts with
// "ultracart: ", carries no secret, and survives the trip through the
// translated wire form (encodeError, decodeError) unchanged.
func FuzzErrorFromBody(f *testing.F) {
	envelope := `{"error":{"developer_message":"Item not found.","error_code":"404","more_info":"https://www.ultracart.com/api/","object_id":"ITEM-1","user_message":"Not found."},"metadata":{},"success":false}`
	for i, s := range []struct {
		status            int
		rest, retry, body string
	}{
		{400, "The authorization code is invalid.", "", `{"error":"invalid_grant","error_description":"The authorization code is invalid.","error_uri":"https://x/y"}`},
		{404, "Item not found.", "", envelope},
		{200, "", "", envelope},
		{401, "", "", `{"error":{}}`},
		{429, "", "7", `{"error":"slow_down"}`},
		{503, "", " 120 ", ""},
		{503, "", "-1", "   "},
		{503, "", "Wed, 21 Oct 2015 07:28:00 GMT", `<html><body><h1>503 Service Unavailable</h1></body></html>`},
		{200, "", "", `{"successful":false,"message":"Token not found."}`},
		{400, "", "", `{"error":12,"error_description":true}`},
		{400, "", "", `{"error":null,"message":["a"]}`},
		{400, "", "", `{"error":{"developer_message":5,"user_message":{"a":1}}}`},
		{500, "", "", "\xff\xfe\xfd" + strings.Repeat("é", 200)},
		{500, "", "", strings.Repeat("a ", 200)},
		{400, "\r\n", "99999999999999999999", `{"error":"` + strings.Repeat(`\u00e9`, 50) + `"}`},
		{503, "", "9223372036", ""}, // the most seconds a time.Duration holds
		{503, "", "9223372037", ""}, // one more would overflow
		{503, "", "+5", ""},
	} {
		f.Add(s.status, s.rest, s.retry, []byte(s.body), uint16(0))
		f.Add(s.status, s.rest, s.retry, []byte(s.body), uint16(11*i+5))
	}
	f.Fuzz(func(t *testing.T, status int, restError, retryAfter string, body []byte, splice uint16) {
		status = fzStatus(status)
		body = fzSplice(body, splice)
		restError = string(fzSplice([]byte(restError), splice/5))
		h := http.Header{}
		h.Set("UC-REST-ERROR", restError)
		h.Set("Retry-After", retryAfter)
		r := new(redactor)
		r.addAuthorization("Bearer " + fzAccess)
		r.addForm(url.Values{"code": {fzCode}, "client_secret": {fzSecret}, "refresh_token": {fzRefresh}, "device_code": {fzDevice}})

		e := errorFromBody(status, h, body, r)
		if e == nil || e.StatusCode != status {
			t.Fatalf("errorFromBody returned %#v for status %d", e, status)
		}
		if !strings.HasPrefix(e.Error(), "ultracart: ") {
			t.Fatalf("text %q", e.Error())
		}
		// Retry-After is a whole number of seconds, or is left out.
		want := time.Duration(0)
		if n, err := strconv.ParseInt(strings.TrimSpace(retryAfter), 10, strconv.IntSize); err == nil && n >= 0 && n <= int64(math.MaxInt64/time.Second) {
			want = time.Duration(n) * time.Second
		}
		if e.RetryAfter != want {
			t.Fatalf("Retry-After %q gave %v, want %v", retryAfter, e.RetryAfter, want)
		}
		fzCheckNoSecret(t, e)
		if m, ok := jsonObject(body); ok {
			if c := jsonString(m["error"]); c != "" && e.Code != r.clean(c) {
				t.Fatalf("Code %q, want %q", e.Code, r.clean(c))
			}
		}

		// The wire form the dialect transport hands to x/oauth2, and back.
		wire := encodeError(e)
		if !json.Valid(wire) || !wireIsError(wire) {
			t.Fatalf("encodeError gave %q", wire)
		}
		h2 := h.Clone()
		h2.Set("UC-REST-ERROR", r.clean(restError)) // as translate leaves it
		back := decodeError(&oauth2.RetrieveError{Response: &http.Response{StatusCode: status, Header: h2}, Body: wire})
		back.Err = nil
		if *back != *e {
			t.Fatalf("round trip changed the error:\n%#v\n%#v", e, back)
		}
	})
}

// errAfter is a body that fails after its content, as a reset connection does.
type errAfter struct {
	r   io.Reader
	err error
}

func (b *errAfter) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, b.err
	}
	return n, err
}

// FuzzCheckResponse checks any response of a REST call made with the
// fuzzed bearer token, whose body may echo it: 2xx is nil and leaves the
// body alone; anything else is an *Error with the status, whose texts do not
// carry the token, and the body (as much as was read) can still be read.
func FuzzCheckResponse(f *testing.F) {
	for _, s := range []struct {
		status            int
		rest, ctype, body string
		broken            bool
	}{
		{200, "", "application/json", `{"items":[],"success":true}`, false},
		{204, "", "", "", false},
		{404, "Item not found", "application/json", `{"error":{"developer_message":"no item","error_code":"404","object_id":"ITEM1"},"success":false}`, false},
		{401, "Permission denied.", "application/json", `{"error":{"developer_message":"The bearer access token is invalid.","user_message":"Permission denied."},"success":false}`, false},
		{502, "", "text/html", `<html>gateway ` + fzAccess + `</html>`, false},
		{500, "", "", "", true},
		{503, "", "application/json", `{"error":{"developer_message":"partial`, true},
		{429, "slow down", "application/json", `{"error":"rate_limited"}`, false},
		{302, "", "", "", false},
	} {
		f.Add(s.status, s.rest, s.ctype, []byte(s.body), s.broken, uint16(0))
		f.Add(s.status, s.rest, s.ctype, []byte(s.body), s.broken, uint16(len(s.body)+3))
	}
	f.Fuzz(func(t *testing.T, status int, restError, contentType string, body []byte, broken bool, splice uint16) {
		status = fzStatus(status)
		body = fzSplice(body, splice)
		restError = string(fzSplice([]byte(restError), splice/7))
		req, _ := http.NewRequest(http.MethodGet, "http://uc.test/rest/v2/item/items", nil)
		req.Header.Set("Authorization", "Bearer "+fzAccess)
		var reader io.Reader = bytes.NewReader(body)
		if broken {
			reader = &errAfter{r: reader, err: io.ErrUnexpectedEOF}
		}
		h := http.Header{"Content-Type": {contentType}, "Uc-Rest-Error": {restError}}
		resp := &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(reader), Request: req}

		err := CheckResponse(resp)
		if status >= 200 && status <= 299 {
			if err != nil {
				t.Fatalf("CheckResponse(%d) = %v", status, err)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != status {
			t.Fatalf("CheckResponse(%d) = %#v", status, err)
		}
		if !strings.HasPrefix(err.Error(), "ultracart: ") {
			t.Fatalf("text %q", err.Error())
		}
		if broken != (e.Err != nil) || (broken && !e.Temporary()) {
			t.Fatalf("broken body: Err %v, Temporary %v", e.Err, e.Temporary())
		}
		for _, text := range errorTexts(err) {
			if strings.Contains(text, fzAccess) {
				t.Fatalf("error text carries the bearer token: %s", text)
			}
		}
		rest, rerr := io.ReadAll(resp.Body)
		if rerr != nil || !bytes.Equal(rest, body[:min(len(body), maxBody)]) {
			t.Fatalf("body after CheckResponse: %q, %v", rest, rerr)
		}
	})
}
