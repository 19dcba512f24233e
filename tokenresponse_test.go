package ultracart

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// The wire format of a translated error, both halves: encodeError writes
// it as a token response, x/oauth2 itself reads that into an
// *oauth2.RetrieveError, and decodeError gives back the *Error it was.
func TestErrorWireRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Error
	}{
		{"RFC 6749 error", Error{StatusCode: 400, Code: "invalid_grant", Description: "The refresh token is invalid.", URI: "https://x/doc"}},
		{"envelope", Error{StatusCode: 404, DeveloperMessage: "Item not found.", UserMessage: "Not found.", MoreInfo: "https://x/api", ObjectID: "ITEM-1"}},
		{"envelope at 200", Error{StatusCode: 200, UserMessage: "Permission denied."}},
		{"code only", Error{StatusCode: 401, Code: "invalid_client"}},
		{"nothing but a status", Error{StatusCode: 503}},
		{"a refused redirect", Error{StatusCode: 307, Description: "refused to follow a redirect to another origin (https://elsewhere.example)"}},
		{"a refused refresh", Error{StatusCode: 400, DeveloperMessage: "The refresh token is invalid.", refusedRefresh: true}},
		{"REST error header and Retry-After", Error{StatusCode: 429, Code: "slow_down", RESTError: "Too many requests.", RetryAfter: 7 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := encodeError(&tc.e)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.e.RESTError != "" {
					w.Header().Set("UC-REST-ERROR", tc.e.RESTError)
				}
				if tc.e.RetryAfter != 0 {
					w.Header().Set("Retry-After", "7")
				}
				// x/oauth2 reads a 2xx as a success: the transport sends
				// a translated error with an error status.
				status := tc.e.StatusCode
				if status < 400 {
					status = http.StatusBadGateway
				}
				w.WriteHeader(status)
				_, _ = w.Write(wire)
			}))
			defer srv.Close()
			conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
			_, err := conf.Exchange(context.Background(), "code")
			var re *oauth2.RetrieveError
			require.True(t, errors.As(err, &re), "%v", err)
			wantCode := tc.e.Code
			switch {
			case tc.e.refusedRefresh:
				wantCode = "invalid_grant"
			case wantCode == "":
				wantCode = syntheticCode
			}
			assert.Equal(t, wantCode, re.ErrorCode, "x/oauth2 reads RFC 6749's fields")

			back := decodeError(re)
			assert.Same(t, re, back.Err)
			back.Err = nil
			assert.Equal(t, tc.e, *back)
			assert.Equal(t, tc.e.Error(), back.Error())
		})
	}
}

// TestTranslateBody checks the translation of successful token and device
// authorization bodies: what x/oauth2 gets, or "" when the body is an error.
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
		{"nine digits", tokenCall, `{"access_token":"at","expires_in":999999999}`, "same"},
		{"ultracart's string", tokenCall, `{"access_token":"at","expires_in":"7200","token_type":"bearer"}`, `{"access_token":"at","expires_in":7200,"token_type":"bearer"}`},
		{"string with spaces", tokenCall, `{"access_token":"at","expires_in":" 7200 "}`, `{"access_token":"at","expires_in":7200}`},
		{"fraction", tokenCall, `{"access_token":"at","expires_in":3600.9}`, `{"access_token":"at","expires_in":3600}`},
		{"exponent", tokenCall, `{"access_token":"at","expires_in":1e3}`, `{"access_token":"at","expires_in":1000}`},
		{"ten digits, clamped", tokenCall, `{"access_token":"at","expires_in":99999999999}`, `{"access_token":"at","expires_in":2147483647}`},
		{"expires_in null", tokenCall, `{"access_token":"at","expires_in":null}`, `{"access_token":"at"}`},
		{"expires_in empty", tokenCall, `{"access_token":"at","expires_in":""}`, `{"access_token":"at"}`},
		{"expires_in zero", tokenCall, `{"access_token":"at","expires_in":0}`, `{"access_token":"at"}`},
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
