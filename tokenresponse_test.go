package ultracart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// TestTranslateBody checks the translation of successful token and device
// authorization bodies: what x/oauth2 gets, or "" when the body is an error.
// FuzzParseExpiresIn checks the values of expires_in; here, that the
// translation reads and writes them.
func TestTranslateBody(t *testing.T) {
	const rest = `"access_token":"at","token_type":"Bearer","refresh_token":"rt"`
	tests := []struct {
		name string
		kind requestKind
		body string
		want string // "" for an error; "same" for the body itself
	}{
		{"rfc", tokenCall, `{` + rest + `,"expires_in":3600,"scope":"item_read"}`, "same"},
		{"rfc without expires_in", tokenCall, `{` + rest + `}`, "same"},
		{"white space everywhere", tokenCall, " {\n\t" + `"access_token" : "at" , "expires_in" : 3600` + " \r\n} ", `{"access_token":"at","expires_in":3600}`},
		{"nested values are kept", tokenCall, `{"x":{"access_token":5,"y":["}",{"z":"\"]"}]},"access_token":"at","expires_in":1}`, "same"},
		{"escapes in an unknown member's value", tokenCall, `{"note":"a\"b\\","access_token":"a\u00e9t","expires_in":60}`, "same"},
		{"ultracart's string", tokenCall, `{"access_token":"at","expires_in":"7200","token_type":"bearer"}`, `{"access_token":"at","expires_in":7200,"token_type":"bearer"}`},
		{"fraction", tokenCall, `{"access_token":"at","expires_in":3600.9}`, `{"access_token":"at","expires_in":3600}`},
		{"ten digits, clamped", tokenCall, `{"access_token":"at","expires_in":99999999999}`, `{"access_token":"at","expires_in":2147483647}`},
		{"expires_in null", tokenCall, `{"access_token":"at","expires_in":null}`, `{"access_token":"at"}`},
		{"expires_in negative", tokenCall, `{"access_token":"at","expires_in":-5}`, `{"access_token":"at"}`},
		{"expires_in an object", tokenCall, `{"access_token":"at","expires_in":{"n":1}}`, `{"access_token":"at"}`},
		{"no access token", tokenCall, `{"token_type":"Bearer","expires_in":3600}`, ""},
		{"empty access token", tokenCall, `{"access_token":"","expires_in":3600}`, ""},
		{"access token not a string", tokenCall, `{"access_token":5}`, ""},
		{"refresh token not a string", tokenCall, `{"access_token":"at","refresh_token":7}`, ""},
		{"token type null", tokenCall, `{"access_token":"at","token_type":null}`, "same"},
		{"an empty error member", tokenCall, `{"access_token":"at","error":""}`, `{"access_token":"at"}`},
		{"an error member", tokenCall, `{"access_token":"at","error":"invalid_grant"}`, ""},
		{"an error member in another case", tokenCall, `{"access_token":"at","ERROR":"invalid_grant"}`, ""},
		{"an envelope", tokenCall, `{"error":{"developer_message":"x"},"success":false}`, ""},
		{"an error description alone", tokenCall, `{"access_token":"at","error_description":"x"}`, "same"},
		{"a member x/oauth2 matches in another case", tokenCall, `{"access_token":"at","Expires_In":"5"}`, `{"access_token":"at","expires_in":5}`},
		{"a member name with an escape", tokenCall, `{"access_token":"at","expires\u005fin":"5"}`, `{"access_token":"at","expires_in":5}`},
		{"a member name folding beyond ascii", tokenCall, "{\"access_to\u212aen\":\"at\",\"expire\u017f_in\":\"5\"}", `{"access_token":"at","expires_in":5}`},
		{"a member name beyond ascii that folds to nothing read", tokenCall, "{\"access_token\":\"at\",\"\u212a\":1}", "same"},
		{"a member in another case, emptied", tokenCall, `{"access_token":"at","Expires_In":""}`, `{"access_token":"at"}`},
		{"a member in another case, an object", tokenCall, `{"access_token":"at","eXpIrEs_In":{"n":1}}`, `{"access_token":"at"}`},
		{"two spellings: the exact one wins", tokenCall, `{"access_token":"at","Expires_in":"abc","expires_in":"120"}`, `{"access_token":"at","expires_in":120}`},
		{"two spellings: a null counts for nothing", tokenCall, `{"access_token":"at","EXPIRES_IN":"7200","Expires_In":null}`, `{"access_token":"at","expires_in":7200}`},
		{"a repeated member: the last, as encoding/json", tokenCall, `{"access_token":"at","access_token":"bt"}`, `{"access_token":"bt"}`},
		{"not an object", tokenCall, `["access_token"]`, ""},
		{"not JSON", tokenCall, `{"access_token":"at"`, ""},
		{"two objects", tokenCall, `{"access_token":"at"}{"a":1}`, ""},
		{"empty", tokenCall, ``, ""},
		{"device, UltraCart's strings in any case", deviceAuthCall, `{"device_code":"dc","Interval":"5","EXPIRES_IN":"600"}`, `{"device_code":"dc","interval":5,"expires_in":600}`},
		{"device without device_code", deviceAuthCall, `{"user_code":"U"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, e := translateBody(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(tt.body), tt.kind, new(redactor))
			if tt.want == "" {
				assert.NotNil(t, e, "translated to %s", out)
				return
			}
			require.Nil(t, e)
			want := tt.want
			if want == "same" {
				want = tt.body
			}
			assert.True(t, sameJSON([]byte(want), out), "want %s, got %s", want, out)
		})
	}
}

// FuzzTranslate sends a token request carrying every fuzzed secret through
// the dialect transport and answers it with any status, content type,
// UC-REST-ERROR header and body. A response to anything but a token request
// passes through untouched; a token-endpoint response is re-encoded as an
// error x/oauth2 reads, with no secret in it, or as a success that keeps
// every member but those the translation fixes.
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
	seeds := []seed{ // the values of expires_in are FuzzParseExpiresIn's
		{200, "application/json", "", token(`"3600"`), kindToken},
		{200, "application/json; charset=utf-8", "", token(`" 3600"`), kindToken},
		{200, "application/json", "", token(`""`), kindToken},
		{200, "application/json", "", token(`null`), kindToken},
		{200, "application/json", "", token(`1e999999`), kindToken},
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
		{200, "application/json", "", `{"access_token":"a","Expires_In":" 5","EXPIRES_IN":null}`, kindToken},
		{200, "application/json", "", `{"access_token":null,"ACCESS_TOKEN":"a","Token_Type":"bearer"}`, kindToken},
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
		// Every other member keeps its value. Of a member that x/oauth2
		// reads, spelled more than one way or in another case, foldMembers
		// keeps one spelling: TestTranslateBody checks which.
		if in, ok := jsonObject(body); ok {
			folded := func(k string) string { // the member x/oauth2 reads k as, if any
				i := slices.IndexFunc(oauth2Members, func(n string) bool { return strings.EqualFold(k, n) })
				if i < 0 {
					return ""
				}
				return oauth2Members[i]
			}
			spellings := map[string]int{}
			for k := range in {
				spellings[folded(k)]++
			}
			for k, raw := range in {
				if n := folded(k); k == "error" || k == "expires_in" || k == "interval" || n != "" && (k != n || spellings[n] > 1) {
					continue
				}
				if !sameJSON(raw, m[k]) {
					t.Fatalf("member %q changed from %s to %s", k, raw, m[k])
				}
			}
		}
	})
}

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

// wireIsError reports whether a translated body is an error: it has a
// non-empty "error" member, which is what x/oauth2 goes by.
func wireIsError(b []byte) bool {
	var w struct {
		Code string `json:"error"`
	}
	return json.Unmarshal(b, &w) == nil && w.Code != ""
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

// decimalSyntax reports whether s is a number that parseExpiresIn reads:
// one strconv.ParseFloat takes (perhaps out of range) made only of digits,
// signs, a point and an exponent, so not hexadecimal, "Inf", "NaN" or with
// underscores.
func decimalSyntax(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return (err == nil || errors.Is(err, strconv.ErrRange)) && strings.Trim(s, "0123456789+-.eE") == ""
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

func roundsUpTo(s string, v float64) bool {
	f, _ := strconv.ParseFloat(s, 64)
	return f >= v
}
