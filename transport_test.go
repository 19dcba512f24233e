package ultracart

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDialectTransportRequest checks what the transport does with a token
// call: the request it sends on carries the version header (the caller's
// request unchanged); an RFC 6749 body comes back as it was and
// UltraCart's with its expires_in as a number, with a length that fits; an
// error comes back without the request's secrets.
func TestDialectTransportRequest(t *testing.T) {
	const rfc = `{"access_token":"at","token_type":"Bearer","refresh_token":"rt","expires_in":3600,"scope":"item_read"}`
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string // the body x/oauth2 gets; "" for an error
	}{
		{"rfc", http.StatusOK, rfc, rfc},
		{"ultracart", http.StatusOK, `{"access_token":"at","expires_in":"3600","token_type":"bearer"}`, `{"access_token":"at","expires_in":3600,"token_type":"bearer"}`},
		{"spaces in expires_in", http.StatusOK, `{"access_token":"at","expires_in":" 3600 "}`, `{"access_token":"at","expires_in":3600}`},
		{"an error", http.StatusBadRequest, `{"error":"invalid_grant","error_description":"rt-secret is used"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-secret"}}.Encode()
			req, err := http.NewRequest(http.MethodPost, "http://uc.test/rest/v2/oauth/token", strings.NewReader(form))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			var sent *http.Request
			tr := &dialectTransport{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r
				return &http.Response{
					StatusCode: tc.status, Status: strconv.Itoa(tc.status) + " " + http.StatusText(tc.status),
					Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(tc.body))}},
					ContentLength: int64(len(tc.body)),
					Body:          io.NopCloser(strings.NewReader(tc.body)),
					Request:       r,
				}, nil
			})}
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			out, err := io.ReadAll(resp.Body)
			require.NoError(t, err)

			require.NotNil(t, sent)
			assert.Empty(t, req.Header.Get(APIVersionHeader), "the caller's request is not changed")
			assert.Equal(t, APIVersion, sent.Header.Get(APIVersionHeader))
			assert.Equal(t, "application/x-www-form-urlencoded", sent.Header.Get("Content-Type"))
			assert.Equal(t, strconv.Itoa(len(out)), resp.Header.Get("Content-Length"))
			assert.Equal(t, int64(len(out)), resp.ContentLength)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tc.want == "" {
				assert.NotContains(t, string(out), "rt-secret", "the error is redacted")
				assert.Contains(t, string(out), "invalid_grant")
				return
			}
			assert.True(t, sameJSON([]byte(tc.want), out), "want %s, got %s", tc.want, out)
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
}
