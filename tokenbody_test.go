package ultracart

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFastTokenBody(t *testing.T) {
	const rest = `"access_token":"at","token_type":"Bearer","refresh_token":"rt"`
	tests := []struct {
		name string
		body string
		want string // "" when the full translation must decide; "same" for the body itself
	}{
		{"rfc", `{` + rest + `,"expires_in":3600,"scope":"item_read"}`, "same"},
		{"rfc without expires_in", `{` + rest + `}`, "same"},
		{"white space everywhere", " {\n\t" + `"access_token" : "at" , "expires_in" : 3600` + " \r\n} ", "same"},
		{"nested values are skipped", `{"x":{"access_token":5,"y":["}",{"z":"\"]"}]},"access_token":"at","expires_in":1}`, "same"},
		{"escapes in an unknown member's value", `{"note":"a\"b\\","access_token":"a\u00e9t","expires_in":60}`, "same"},
		{"nine digits", `{"access_token":"at","expires_in":999999999}`, "same"},
		{"ultracart's string", `{"access_token":"at","expires_in":"7200","token_type":"bearer"}`, `{"access_token":"at","expires_in":7200,"token_type":"bearer"}`},
		{"string with spaces", `{"access_token":"at","expires_in":" 7200 "}`, `{"access_token":"at","expires_in":7200}`},
		{"fraction", `{"access_token":"at","expires_in":3600.9}`, `{"access_token":"at","expires_in":3600}`},
		{"exponent", `{"access_token":"at","expires_in":1e3}`, `{"access_token":"at","expires_in":1000}`},
		{"ten digits, clamped", `{"access_token":"at","expires_in":99999999999}`, `{"access_token":"at","expires_in":2147483647}`},
		{"expires_in null", `{"access_token":"at","expires_in":null}`, ""},
		{"expires_in empty", `{"access_token":"at","expires_in":""}`, ""},
		{"expires_in zero", `{"access_token":"at","expires_in":0}`, ""},
		{"expires_in negative", `{"access_token":"at","expires_in":-5}`, ""},
		{"expires_in an object", `{"access_token":"at","expires_in":{"n":1}}`, ""},
		{"no access token", `{"token_type":"Bearer","expires_in":3600}`, ""},
		{"empty access token", `{"access_token":"","expires_in":3600}`, ""},
		{"access token not a string", `{"access_token":5}`, ""},
		{"refresh token not a string", `{"access_token":"at","refresh_token":7}`, ""},
		{"token type null", `{"access_token":"at","token_type":null}`, "same"},
		{"an error member", `{"access_token":"at","error":""}`, ""},
		{"an envelope", `{"error":{"developer_message":"x"},"success":false}`, ""},
		{"an error description", `{"access_token":"at","error_description":"x"}`, ""},
		{"a member x/oauth2 matches in another case", `{"access_token":"at","Expires_In":"5"}`, ""},
		{"a member name with an escape", `{"access_token":"at","expires\u005fin":"5"}`, ""},
		{"a member name beyond ascii", "{\"access_token\":\"at\",\"\u212a\":1}", ""},
		{"a repeated member", `{"access_token":"at","access_token":"bt"}`, ""},
		{"not an object", `["access_token"]`, ""},
		{"not JSON", `{"access_token":"at"`, ""},
		{"two objects", `{"access_token":"at"}{"a":1}`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := fastTokenBody([]byte(tt.body))
			if tt.want == "" {
				assert.False(t, ok, "fast path answered %s", out)
				return
			}
			require.True(t, ok)
			want := tt.want
			if want == "same" {
				want = tt.body
			}
			assert.Equal(t, want, string(out))
			// The full translation agrees.
			slow, e := translateBody(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(tt.body), tokenCall, new(redactor))
			require.Nil(t, e)
			assert.True(t, sameJSON(out, slow), "fast %s, full %s", out, slow)
		})
	}
}

// FuzzFastTokenBody checks that whenever the fast path answers, the full
// translation accepts the body too and gives the same object.
func FuzzFastTokenBody(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"at","token_type":"Bearer","refresh_token":"rt","expires_in":3600,"scope":"item_read"}`,
		`{"access_token":"at","expires_in":"7200","refresh_token":"rt","scope":"item_read order_read","token_type":"bearer"}`,
		`{"x":{"access_token":5,"y":["}",{"z":"\"]"}]},"access_token":"at","expires_in":1.5e1}`,
		`{"access_token":"at","ACCESS_TOKEN":"bt"}`,
		`{"access_token":"at","error":{"developer_message":"x"}}`,
		`{"access_token":"at","expires_in":" 0x10"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, ok := fastTokenBody(body)
		if !ok {
			return
		}
		slow, e := translateBody(http.StatusOK, http.Header{"Content-Type": {"application/json"}}, body, tokenCall, new(redactor))
		if e != nil {
			t.Fatalf("the fast path answered %q for %q, which the translation refuses: %v", out, body, e)
		}
		if !sameJSON(out, slow) {
			t.Fatalf("for %q the fast path gave %q, the translation %q", body, out, slow)
		}
	})
}
