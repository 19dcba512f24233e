package ultracart

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewState(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := NewState()
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(b)*8, 128)
		assert.Equal(t, s, url.QueryEscape(s), "safe in a URL as it is")
		assert.False(t, seen[s], "repeated state")
		seen[s] = true
	}
}

const cbState = "state-SECRET-4411"

// callbackCases are TestParseCallback's table and FuzzParseCallback's seeds.
var callbackCases = []struct {
	name     string
	query    string
	expected string // the state the application sent
	code     string
	is       error
	wantErr  *Error
}{
	{name: "code", query: "code=" + fzCode + "&state=" + cbState, expected: cbState, code: fzCode},
	{name: "wrong state", query: "code=" + fzCode + "&state=other", expected: cbState, is: ErrStateMismatch},
	{name: "missing state", query: "code=" + fzCode, expected: cbState, is: ErrStateMismatch},
	{name: "empty state", query: "code=" + fzCode + "&state=", expected: cbState, is: ErrStateMismatch},
	{name: "two states", query: "code=" + fzCode + "&state=" + cbState + "&state=" + cbState, expected: cbState, is: ErrStateMismatch},
	{name: "expected state empty", query: "code=" + fzCode + "&state=", expected: "", is: ErrStateMismatch},
	{name: "prefix of state", query: "code=" + fzCode + "&state=" + cbState[:5], expected: cbState, is: ErrStateMismatch},
	{name: "error with wrong state", query: "error=access_denied&state=x", expected: cbState, is: ErrStateMismatch},
	{name: "access denied", query: "error=access_denied&error_description=The+merchant+said+no&state=" + cbState, expected: cbState,
		is: ErrAccessDenied, wantErr: &Error{Code: "access_denied", Description: "The merchant said no"}},
	{name: "expired link", query: "error=invalid_request&state=" + cbState, expected: cbState,
		is: ErrInvalidRequest, wantErr: &Error{Code: "invalid_request"}},
	{name: "error echoing the state", query: "error=access_denied&error_description=" + cbState + "&state=" + cbState, expected: cbState,
		is: ErrAccessDenied, wantErr: &Error{Code: "access_denied", Description: "[redacted]"}},
	{name: "no code", query: "state=" + cbState, expected: cbState},
	// A secret that holds another is removed whole, whichever is longer.
	{name: "a code holding the state", query: "error=access_denied&error_description=a+code-st-1-xyz+and+st-1&code=code-st-1-xyz&state=st-1", expected: "st-1",
		is: ErrAccessDenied, wantErr: &Error{Code: "access_denied", Description: "a [redacted] and [redacted]"}},
	{name: "a state holding the code", query: "error=access_denied&error_description=a+code-st-1-xyz+and+st-1&code=st-1&state=code-st-1-xyz", expected: "code-st-1-xyz",
		is: ErrAccessDenied, wantErr: &Error{Code: "access_denied", Description: "a [redacted] and [redacted]"}},
}

func TestParseCallback(t *testing.T) {
	for _, tt := range callbackCases {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/callback?"+tt.query, nil)
			code, err := ParseCallback(r, tt.expected)
			if tt.code != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.code, code)
				return
			}
			require.Error(t, err)
			assert.Empty(t, code)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			if tt.wantErr != nil {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, *tt.wantErr, *e)
			}
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				text := fmt.Sprintf(verb, err)
				for _, secret := range append([]string{tt.expected}, r.URL.Query()["code"]...) {
					if secret != "" {
						assert.NotContains(t, text, secret)
					}
				}
			}
		})
	}
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
	for _, tc := range callbackCases {
		f.Add(tc.query, tc.expected)
	}
	for _, s := range []struct{ query, state string }{
		{"state={state}&code=uc-code-abc123&scope=item_read", "Zx-_9aQ"},
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
