package ultracart

// Fuzz targets for everything that reads what a server or a browser sends:
// the token-response translation, the two error formats, CheckResponse,
// ParseCallback and FileStore.Load. Their seeds run as ordinary tests; CI
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
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

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

// fzLeaks returns the fuzzed secrets that occur in text.
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

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fzStatus maps any int onto a status line the HTTP client could read.
func fzStatus(n int) int {
	if n < 0 {
		n = -(n + 1)
	}
	return 100 + n%900
}

// FuzzTranslate sends a token request carrying every fuzzed secret through
// the dialect transport and answers it with any status, content type,
// UC-REST-ERROR header and body. The invariants:
//
//   - a response to anything but a token request passes through untouched;
//   - a token-endpoint response is always re-encoded: its body is a JSON
//     object, with a matching Content-Type and Content-Length;
//   - an error body decodes as wireError with a non-empty "error" and the
//     original status, and neither it, the UC-REST-ERROR header, nor the
//     *Error that decodeError rebuilds from it carries a secret;
//   - a success has a 2xx status, no "error" member, a non-empty access
//     token (device code), an expires_in (and interval) that is absent or a
//     whole number of seconds in [1, MaxInt32], and every other member of the
//     original object with the same value.
func FuzzTranslate(f *testing.F) {
	const (
		kindOther = iota
		kindToken
		kindDevice
	)
	type seed struct {
		status      int
		contentType string
		restError   string
		body        string
		kind        uint8
	}
	token := func(expiresIn string) string {
		return `{"access_token":"uc-at-1","refresh_token":"uc-rt-1","token_type":"bearer","expires_in":` + expiresIn + `,"scope":"item_read"}`
	}
	envelope := `{"error":{"developer_message":"Permission denied.","error_code":"401","more_info":"https://www.ultracart.com/api/","object_id":"","user_message":"Permission denied."},"metadata":{},"success":false}`
	seeds := []seed{
		{200, "application/json", "", token(`"3600"`), kindToken},
		{200, "application/json; charset=utf-8", "", token(`" 3600"`), kindToken},
		{200, "application/json", "", token(`"3600.9"`), kindToken},
		{200, "application/json", "", token(`3600`), kindToken},
		{200, "application/json", "", token(`""`), kindToken},
		{200, "application/json", "", token(`null`), kindToken},
		{200, "application/json", "", token(`"1e40"`), kindToken},
		{200, "application/json", "", token(`1e999999`), kindToken},
		{200, "application/json", "", token(`-1`), kindToken},
		{200, "application/json", "", token(`"0x10"`), kindToken},
		{200, "application/json", "", token(`"NaN"`), kindToken},
		{200, "application/json", "", token(`{"n":1}`), kindToken},
		{200, "application/json", "", `{"access_token":"a","error":""}`, kindToken},
		{200, "application/json", "", `{"access_token":"a","error":5}`, kindToken},
		{200, "application/json", "", `{"access_token":{"x":1}}`, kindToken},
		{200, "application/json", "", `{"access_token":"a","unicode":"\u2028<>&","n":1.50}`, kindToken},
		{400, "application/json", "The authorization code is invalid.", `{"error":"invalid_grant","error_description":"The authorization code is invalid, expired or already used."}`, kindToken},
		{200, "application/json", "", `{"error":"invalid_request","error_description":"missing code"}`, kindToken},
		{401, "application/json", "Permission denied.", envelope, kindToken},
		{200, "application/json", "", envelope, kindToken},
		{502, "text/html", "", "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>upstream</body></html>", kindToken},
		{500, "", "", "", kindToken},
		{503, "text/plain", "", "   \n\t", kindToken},
		{200, "text/plain", "", "access_token=a&token_type=bearer&expires_in=3600", kindToken},
		{400, "application/x-www-form-urlencoded", "", "error=invalid_grant&error_description=expired", kindToken},
		{200, "application/x-www-form-urlencoded", "", "%zz=1&access_token=a", kindToken},
		{429, "application/json", "slow down", `{"error":"slow_down"}`, kindToken},
		{200, "application/json", "", "\xff\xfe{\"error\":\"x\"}", kindToken},
		{200, "application/json", "", `{"error":"x\xffy","error_description":"\xc3"}`, kindToken},
		{200, "application/json", "", `[1,2,3]`, kindToken},
		{200, "application/json", "", `null`, kindToken},
		{200, "application/json", "", `{"a":1}{"b":2}`, kindToken},
		{200, "application/json", "", `{"device_code":"uc-dc-1","user_code":"BCDF-GHJK","verification_uri":"http://127.0.0.1/rest/v2/oauth/device","expires_in":600,"interval":1}`, kindDevice},
		{200, "application/json", "", `{"device_code":"uc-dc-1","user_code":"BCDF-GHJK","verification_url":"http://x","expires_in":"600","interval":"5"}`, kindDevice},
		{200, "application/json", "", `{"device_code":"","user_code":"BCDF-GHJK"}`, kindDevice},
		{200, "application/json", "", envelope, kindDevice},
		{400, "application/json", "", `{"error":"invalid_client","error_description":"Unknown client_id."}`, kindDevice},
		{400, "application/json; charset=utf-8", "", `{"expires_in":"", "error":{"developer_message":"x"}}`, kindOther},
	}
	for i, s := range seeds {
		f.Add(s.status, s.contentType, s.restError, []byte(s.body), s.kind, uint16(0))
		// The same seed with a secret spliced in.
		f.Add(s.status, s.contentType, s.restError, []byte(s.body), s.kind, uint16(7*i+3))
	}
	f.Add(400, "application/json", "code "+fzCode, []byte(`{"error":"invalid_grant","error_description":"the code `+fzCode+` and `+url.QueryEscape(fzSecret)+`"}`), uint8(kindToken), uint16(0))
	f.Add(502, "text/html", "", []byte(`<p>`+fzRefresh+` `+fzSecret+`</p>`), uint8(kindToken), uint16(0))

	f.Fuzz(func(t *testing.T, status int, contentType, restError string, body []byte, kind uint8, splice uint16) {
		status = fzStatus(status)
		body = fzSplice(body, splice)
		restError = string(fzSplice([]byte(restError), splice/3))

		path := "/rest/v2/item/items"
		switch kind % 3 {
		case kindToken:
			path = "/rest/v2/oauth/token"
		case kindDevice:
			path = "/rest/v2/oauth/device/authorize"
		}
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"client_id":     {"client-1"},
			"code":          {fzCode},
			"client_secret": {fzSecret},
			"refresh_token": {fzRefresh},
			"device_code":   {fzDevice},
		}
		req, err := http.NewRequest(http.MethodPost, "http://uc.test"+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+fzAccess) // as UltraCart's SDKs send
		header := http.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		if restError != "" {
			header.Set("UC-REST-ERROR", restError)
		}
		sent := &http.Response{
			StatusCode: status,
			Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header:     header,
			Body:       io.NopCloser(bytes.NewReader(body)),
		}
		tr := &dialectTransport{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent.Request = r
			return sent, nil
		})}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip failed on a body that reads without error: %v", err)
		}
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}

		if kind%3 == kindOther {
			if resp.StatusCode != status || !bytes.Equal(out, body) || resp.Header.Get("Content-Type") != contentType || resp.Header.Get("UC-REST-ERROR") != restError {
				t.Fatalf("a response to another request was changed: %d %q", resp.StatusCode, out)
			}
			return
		}

		if !json.Valid(out) {
			t.Fatalf("translated body is not JSON: %q", out)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Fatalf("Content-Type %q", got)
		}
		if resp.ContentLength != int64(len(out)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(out)) {
			t.Fatalf("Content-Length %d / %q for %d bytes", resp.ContentLength, resp.Header.Get("Content-Length"), len(out))
		}
		if found := fzLeaks(resp.Header.Get("UC-REST-ERROR")); len(found) > 0 {
			t.Fatalf("UC-REST-ERROR carries %q", found)
		}

		if wireIsError(out) {
			var w wireError
			if err := json.Unmarshal(out, &w); err != nil || w.Code == "" || w.Detail == nil {
				t.Fatalf("error body %q does not decode as wireError (%v)", out, err)
			}
			if w.Detail.Status != status {
				t.Fatalf("wire status %d, want %d", w.Detail.Status, status)
			}
			if found := fzLeaks(string(out)); len(found) > 0 {
				t.Fatalf("error body carries %q: %s", found, out)
			}
			wantStatus := status
			if kind%3 == kindDevice && status >= 200 && status <= 299 {
				wantStatus = http.StatusBadGateway // so that x/oauth2 sees an error
			}
			if resp.StatusCode != wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, wantStatus)
			}
			// What Config's methods make of it.
			re := &oauth2.RetrieveError{Response: resp, Body: out, ErrorCode: w.Code, ErrorDescription: w.Description, ErrorURI: w.URI}
			e := decodeError(re)
			if e.StatusCode != status || !strings.HasPrefix(e.Error(), "ultracart: ") {
				t.Fatalf("rebuilt error %#v: %s", e, e)
			}
			fzCheckNoSecret(t, e)
			return
		}

		// A success.
		if status < 200 || status > 299 || resp.StatusCode != status {
			t.Fatalf("status %d (sent %d) translated to a success: %q", resp.StatusCode, status, out)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("success body %q is not an object: %v", out, err)
		}
		if _, ok := m["error"]; ok {
			t.Fatalf("success body %q has an error member", out)
		}
		name, seconds := "access_token", []string{"expires_in"}
		if kind%3 == kindDevice {
			name, seconds = "device_code", []string{"expires_in", "interval"}
		}
		var s string
		if json.Unmarshal(m[name], &s) != nil || s == "" {
			t.Fatalf("success body %q has no %s", out, name)
		}
		for _, n := range seconds {
			raw, ok := m[n]
			if !ok {
				continue
			}
			v, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil || v < 1 || v > math.MaxInt32 {
				t.Fatalf("%s is %s", n, raw)
			}
		}
		// Every other member keeps its value.
		if in, ok := jsonObject(body); ok {
			for k, raw := range in {
				if k == "error" || k == "expires_in" || k == "interval" {
					continue
				}
				if !sameJSON(raw, m[k]) {
					t.Fatalf("member %q changed from %s to %s", k, raw, m[k])
				}
			}
		}
	})
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	decode := func(b []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	va, errA := decode(a)
	vb, errB := decode(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

// decimalSyntax reports whether s is a number that parseExpiresIn reads:
// one strconv.ParseFloat takes (perhaps out of range) made only of digits,
// signs, a point and an exponent, so not hexadecimal, "Inf", "NaN" or with
// underscores.
func decimalSyntax(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return (err == nil || errors.Is(err, strconv.ErrRange)) && strings.Trim(s, "0123456789+-.eE") == ""
}

// FuzzParseExpiresIn compares parseExpiresIn with a reference that reads
// the number exactly (math/big) instead of as a float64: accepted means a
// value of at least one second, and the seconds are its integer part,
// clamped to MaxInt32. A float64 may round a value up to the next whole
// second (2.99999999999999999 is 3); that, and only that, may differ.
func FuzzParseExpiresIn(f *testing.F) {
	for _, s := range []string{
		`"3600"`, `3600`, `" 3600"`, `"3600 "`, "\"\\t3600\\n\"", `"3600.0"`, `"3600.9"`, `3600.9`,
		`"+60"`, `"6e1"`, `1`, `"1.999"`, `"0.999"`, `""`, `"   "`, `null`, ``, `"abc"`, `"3600s"`,
		`"0x10"`, `"Inf"`, `"NaN"`, `"1_000"`, `0`, `"0"`, `-1`, `"-3600"`, `true`, `{}`, `[3600]`,
		`2147483647`, `2147483648`, `"1e40"`, `1e400`, `1e-400`, `"1."`, `".5"`, `"1.e3"`, `"0.99999999999999999999"`,
		`2.9999999999999999999`, `2147483646.99999999999`, `"\u0033600"`, "\"\u00a03600\"", `"36` + "\x00" + `00"`,
		`"9999999999999999999999999999"`, `1e2147483648`, `"1e-2147483649"`, `"1` + strings.Repeat("0", 400) + `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, ok := parseExpiresIn(raw)
		if ok && (n < 1 || n > math.MaxInt32) {
			t.Fatalf("parseExpiresIn(%q) = %d, out of [1, MaxInt32]", raw, n)
		}
		if !ok && n != 0 {
			t.Fatalf("parseExpiresIn(%q) = %d, false", raw, n)
		}

		// The reference.
		s := strings.TrimSpace(string(raw))
		if strings.HasPrefix(s, `"`) {
			var str string
			if json.Unmarshal([]byte(s), &str) != nil {
				if ok {
					t.Fatalf("parseExpiresIn(%q) accepted a malformed string", raw)
				}
				return
			}
			s = strings.TrimSpace(str)
		}
		if !decimalSyntax(s) {
			if ok {
				t.Fatalf("parseExpiresIn(%q) = %d, accepted a non-decimal", raw, n)
			}
			return
		}
		if exponentTooLarge(s) {
			return // big.Rat would allocate without bound; the bounds were checked above
		}
		r, good := new(big.Rat).SetString(strings.TrimSuffix(strings.Replace(s, ".e", "e", 1), "."))
		if !good {
			t.Fatalf("reference cannot read %q", s)
		}
		// floor(r), which for r >= 0 is the integer part.
		floor := new(big.Int).Quo(r.Num(), r.Denom())
		if r.Sign() < 0 || floor.Sign() == 0 {
			// Less than one second: rejected, unless a float64 rounds it up to 1.
			if ok && !(n == 1 && roundsUpTo(s, 1)) {
				t.Fatalf("parseExpiresIn(%q) = %d, want rejected", raw, n)
			}
			if !ok && r.Sign() > 0 && roundsUpTo(s, 1) {
				t.Fatalf("parseExpiresIn(%q) rejected", raw)
			}
			return
		}
		want := int64(math.MaxInt32)
		if floor.IsInt64() && floor.Int64() < math.MaxInt32 {
			want = floor.Int64()
		}
		if !ok || (n != want && !(n == want+1 && roundsUpTo(s, float64(want+1)))) {
			t.Fatalf("parseExpiresIn(%q) = %d, %v; want %d", raw, n, ok, want)
		}
	})
}

// exponentTooLarge reports whether the decimal s has an exponent that makes
// an exact reading too costly.
func exponentTooLarge(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return len(s) > 1000
	}
	e, err := strconv.Atoi(strings.TrimLeft(s[i+1:], "+"))
	return err != nil || e > 1000 || e < -1000 || len(s) > 1000
}

// roundsUpTo reports whether s, read as a float64, is at least v.
func roundsUpTo(s string, v float64) bool {
	f, _ := strconv.ParseFloat(s, 64)
	return f >= v
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

// fzDistinct reports whether a secret can be looked for in an error text:
// one that is a substring of the fixed texts around it, or that could span
// the "[redacted]" marker, would be found where it never was.
func fzDistinct(s string) bool {
	const fixed = "ultracart: callback state does not match\n" +
		"ultracart: the callback carries neither a code nor an error\n" +
		redacted + "\nhttps://app.example/callback\n&ultracart.Error{StatusCode:0, Code:, Description:, URI:, " +
		"DeveloperMessage:, UserMessage:, MoreInfo:, ObjectID:, RESTError:, RetryAfter:0, Err:error(nil)}" +
		"&errors.errorString{s:}"
	if len(s) < 4 || strings.ContainsAny(s[:1], "0123456789abcdefABCDEFnrtvxuU") {
		return false // see fzSecret
	}
	for _, c := range s {
		if c <= ' ' || c > '~' || strings.ContainsRune(`[]:"\(){},`, c) {
			return false // %#v would escape it, or it could span a marker
		}
	}
	return !strings.Contains(fixed, s)
}

// FuzzParseCallback parses any redirect query with any expected state.
// "{state}" in the query stands for the URL-encoded expected state, so that
// the fuzzer reaches past the state check. The invariants: no panic; a
// code only with exactly one state, equal to the expected non-empty one, and
// no error=; ErrStateMismatch exactly when the state does not match; an
// *Error for error=; and no error text carries either state or a code.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []struct{ query, state string }{
		{"code=uc-code-abc123&state={state}", "state-4411"},
		{"state={state}&code=uc-code-abc123&scope=item_read", "Zx-_9aQ"},
		{"code=uc-code-abc123&state=other", "state-4411"},
		{"code=uc-code-abc123", "state-4411"},
		{"code=uc-code-abc123&state=", ""},
		{"code=uc-code-abc123&state={state}&state={state}", "state-4411"},
		{"error=access_denied&error_description=The+user+denied+the+authorization+request.&state={state}", "state-4411"},
		{"error=invalid_request&error_description=The+authorize+link+has+expired.&state={state}", "state-4411"},
		{"error=access_denied&error_description={state}+uc-code-abc123&code=uc-code-abc123&state={state}", "state-4411"},
		{"error=access_denied&state=x", "state-4411"},
		{"state={state}", "state-4411"},
		{"code=%zz&state={state}", "s/t+a=t&e"},
		{"code=a;b&state={state}", "state-4411"},
		{"code=\xff\xfe&state={state}", "\xff"},
		{"error=&code=&state={state}", "state-4411"},
	} {
		f.Add(s.query, s.state)
	}
	f.Fuzz(func(t *testing.T, query, state string) {
		query = strings.ReplaceAll(query, "{state}", url.QueryEscape(state))
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/callback", RawQuery: query}}
		code, err := ParseCallback(r, state)

		q := r.URL.Query()
		match := state != "" && len(q["state"]) == 1 && q["state"][0] == state
		switch {
		case err == nil:
			if !match || code == "" || code != q.Get("code") || q.Get("error") != "" {
				t.Fatalf("ParseCallback(%q, %q) = %q, nil", query, state, code)
			}
			return
		case code != "":
			t.Fatalf("ParseCallback returned the code %q with %v", code, err)
		case !match:
			if !errors.Is(err, ErrStateMismatch) {
				t.Fatalf("ParseCallback(%q, %q) = %v, want ErrStateMismatch", query, state, err)
			}
		case errors.Is(err, ErrStateMismatch):
			t.Fatalf("ParseCallback(%q, %q): state mismatch on a matching state", query, state)
		case q.Get("error") != "":
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.StatusCode != 0 {
				t.Fatalf("ParseCallback(%q, %q) = %#v, want an *Error", query, state, err)
			}
		}
		if !strings.HasPrefix(err.Error(), "ultracart: ") {
			t.Fatalf("text %q", err.Error())
		}
		secrets := append([]string{state}, q["state"]...)
		secrets = append(secrets, q["code"]...)
		for _, text := range errorTexts(err) {
			for _, s := range secrets {
				if fzDistinct(s) && strings.Contains(text, s) {
					t.Fatalf("error text carries %q: %s", s, text)
				}
			}
		}
	})
}

// FuzzFileStoreLoad loads any file content, which may carry the fuzzed
// tokens. The invariants: no panic; a nil error comes with a token that has
// an access or a refresh token, and that token survives the JSON round trip
// Save makes; an error is never ErrNoToken (the file exists, even empty),
// names the path, starts with "ultracart: " and carries no token.
func FuzzFileStoreLoad(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"uc-at-1","token_type":"bearer","refresh_token":"uc-rt-1","expiry":"2030-01-02T03:04:05.123456789Z","expires_in":3600}`,
		`{"refresh_token":"uc-rt-1"}`,
		`{"access_token":"uc-at-1","expiry":"0001-01-01T00:00:00Z"}`,
		`{"access_token":"uc-at-1","expiry":"9999-12-31T23:59:59+14:00"}`,
		`{"access_token":"uc-at-1","expiry":"` + fzRefresh + `"}`,
		`{"access_token":5,"refresh_token":"` + fzRefresh + `"}`,
		`{"access_token":"uc-at-1","expires_in":"` + fzAccess + `"}`,
		`{"access_token":"` + fzAccess,
		`{"access_token":"` + fzAccess + `" "refresh_token":"` + fzRefresh + `"}`,
		`{}`, `null`, `[]`, `""`, ``, " \n", "\xef\xbb\xbf{\"access_token\":\"a\"}", "\xff",
		`{"access_token":"a"} trailing`,
		`{"access_token":"a","access_token":"","refresh_token":null}`,
	} {
		f.Add([]byte(s), uint16(0))
	}
	f.Add([]byte(`{"access_token":"","refresh_token":""}`), uint16(40))
	// One file per fuzzing process, rewritten for each input: the inputs of
	// one process run one at a time.
	path := filepath.Join(f.TempDir(), "token.json")
	f.Fuzz(func(t *testing.T, content []byte, splice uint16) {
		content = fzSplice(content, splice)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		tok, err := NewFileStore(path).Load(context.Background())
		if err == nil {
			if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
				t.Fatalf("Load(%q) = %#v, nil", content, tok)
			}
			b, err := json.Marshal(tok)
			if err != nil {
				t.Fatalf("Load(%q) gave a token Save cannot encode: %v", content, err)
			}
			var back oauth2.Token
			if err := json.Unmarshal(b, &back); err != nil || back.AccessToken != tok.AccessToken ||
				back.RefreshToken != tok.RefreshToken || back.TokenType != tok.TokenType ||
				back.ExpiresIn != tok.ExpiresIn || !back.Expiry.Equal(tok.Expiry) {
				t.Fatalf("the token of %q does not survive Save: %#v, %v", content, back, err)
			}
			return
		}
		if tok != nil {
			t.Fatalf("Load returned a token with %v", err)
		}
		if errors.Is(err, ErrNoToken) {
			t.Fatalf("Load(%q): ErrNoToken for an existing file: %v", content, err)
		}
		if !strings.Contains(err.Error(), path) || !strings.HasPrefix(err.Error(), "ultracart: ") {
			t.Fatalf("Load error %q does not name %s", err, path)
		}
		fzCheckNoSecret(t, err)
	})
}

// TestSecretRedactorNested: when one secret holds another (a code that
// contains the state), the longer one is removed whole, not left in pieces
// around the shorter one's marker.
func TestSecretRedactorNested(t *testing.T) {
	for _, order := range [][]string{{"st-1", "code-st-1-xyz"}, {"code-st-1-xyz", "st-1"}} {
		var r redactor
		for _, s := range order {
			r.add(s)
		}
		if got := r.clean("a code-st-1-xyz and st-1"); got != "a [redacted] and [redacted]" {
			t.Errorf("secrets %q: clean gave %q", order, got)
		}
	}
}

// wireIsError reports whether a translated body is an error: it has a
// non-empty "error" member, which is what x/oauth2 goes by.
func wireIsError(b []byte) bool {
	var w struct {
		Code string `json:"error"`
	}
	return json.Unmarshal(b, &w) == nil && w.Code != ""
}
