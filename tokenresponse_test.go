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
			if wantCode == "" {
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
