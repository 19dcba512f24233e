package ultracart

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDialectTransportCheapPath checks what a token call costs the
// transport: the request it sends on is a shallow copy with the version
// header (the caller's request unchanged, its URL shared, not cloned); an
// RFC 6749 body comes back byte for byte and UltraCart's with only its
// expires_in rewritten; and the request's form is read once, for its
// secrets and grant type.
func TestDialectTransportCheapPath(t *testing.T) {
	const rfc = `{"access_token":"at","token_type":"Bearer","refresh_token":"rt","expires_in":3600,"scope":"item_read"}`
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		want       string // the body x/oauth2 gets; "" for an error
		wantParsed int32  // reads of the request body
	}{
		{"rfc", http.StatusOK, rfc, rfc, 1},
		{"ultracart", http.StatusOK, `{"access_token":"at","expires_in":"3600","token_type":"bearer"}`, `{"access_token":"at","expires_in":3600,"token_type":"bearer"}`, 1},
		{"spaces in expires_in: the full translation", http.StatusOK, `{"access_token":"at","expires_in":" 3600 "}`, `{"access_token":"at","expires_in":3600}`, 1},
		{"an error", http.StatusBadRequest, `{"error":"invalid_grant","error_description":"rt-secret is used"}`, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-secret"}}.Encode()
			req, err := http.NewRequest(http.MethodPost, "http://uc.test/rest/v2/oauth/token", strings.NewReader(form))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			var parsed atomic.Int32
			getBody := req.GetBody
			req.GetBody = func() (io.ReadCloser, error) {
				parsed.Add(1)
				return getBody()
			}
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
			assert.NotSame(t, req, sent, "the caller's request is not changed")
			assert.Empty(t, req.Header.Get(APIVersionHeader))
			assert.Equal(t, APIVersion, sent.Header.Get(APIVersionHeader))
			assert.Equal(t, "application/x-www-form-urlencoded", sent.Header.Get("Content-Type"))
			assert.Same(t, req.URL, sent.URL, "a shallow copy, not a clone")
			assert.Equal(t, tc.wantParsed, parsed.Load())
			assert.Equal(t, strconv.Itoa(len(out)), resp.Header.Get("Content-Length"))
			assert.Equal(t, int64(len(out)), resp.ContentLength)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tc.want == "" {
				assert.NotContains(t, string(out), "rt-secret", "the error is redacted")
				assert.Contains(t, string(out), "invalid_grant")
				return
			}
			assert.Equal(t, tc.want, string(out))
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
}

// TestReadBodyLength checks the reading of a body by its Content-Length:
// exact, shorter than announced (an error), and longer than announced
// (read whole, as from a RoundTripper that announced too little).
func TestReadBodyLength(t *testing.T) {
	for _, tc := range []struct {
		name    string
		length  int64
		body    string
		wantErr bool
	}{
		{"exact", 5, "hello", false},
		{"unknown", -1, "hello", false},
		{"zero but not empty", 0, "hello", false},
		{"longer than announced", 2, "hello", false},
		{"shorter than announced", 9, "hello", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: tc.length, Body: io.NopCloser(bytes.NewReader([]byte(tc.body)))}
			b, e := readBody(resp, nil)
			if tc.wantErr {
				require.NotNil(t, e)
				assert.ErrorIs(t, e, io.ErrUnexpectedEOF)
				return
			}
			require.Nil(t, e)
			assert.Equal(t, tc.body, string(b))
		})
	}
}
