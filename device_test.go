package ultracart_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// deviceServer answers device authorization in UltraCart's dialect (string
// numbers) and then the polls with the given answers, in order.
func deviceServer(t *testing.T, polls ...string) (*recorder, *atomic.Int32) {
	var n atomic.Int32
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest/v2/oauth/device/authorize":
			reply(200, `{"device_code":"dc-SECRET","user_code":"ABCD-EFGH","verification_uri":"https://ultracart.example/device","expires_in":"600","interval":"1"}`)(w, r)
		default:
			i := int(n.Add(1)) - 1
			answer := polls[len(polls)-1]
			if i < len(polls) {
				answer = polls[i]
			}
			if answer == "token" {
				reply(200, `{"access_token":"at-device","refresh_token":"rt-device","token_type":"bearer","expires_in":"3600"}`)(w, r)
				return
			}
			reply(400, `{"error":"`+answer+`"}`)(w, r)
		}
	})
	return srv, &n
}

// inBubble runs f in a testing/synctest bubble, whose clock moves only when
// every goroutine in it waits, with a context whose HTTP client serves h in
// the same goroutine: x/oauth2's polls then take no real time, whereas a
// socket's wait would stop the bubble's clock. The server's socket, opened
// outside, stays unused.
func inBubble(t *testing.T, h http.Handler, f func(t *testing.T, ctx context.Context)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: handlerTransport{h}}
		f(t, context.WithValue(context.Background(), oauth2.HTTPClient, client))
	})
}

// handlerTransport is an http.RoundTripper that serves each request with a
// handler in the caller's goroutine.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	w := httptest.NewRecorder()
	tr.h.ServeHTTP(w, r)
	if err := r.Context().Err(); err != nil { // as a client gives up on a server that hangs
		return nil, err
	}
	return w.Result(), nil
}

func TestDeviceFlow(t *testing.T) {
	srv, polls := deviceServer(t, "authorization_pending", "token")
	conf := testConfig(srv.URL)
	conf.Scopes = []string{ultracart.ScopeItemRead}
	inBubble(t, srv.Config.Handler, func(t *testing.T, ctx context.Context) {
		da, err := conf.DeviceAuth(ctx)
		require.NoError(t, err)
		assert.Equal(t, "ABCD-EFGH", da.UserCode)
		assert.Equal(t, int64(1), da.Interval, "a string interval is understood")
		assert.WithinDuration(t, time.Now().Add(10*time.Minute), da.Expiry, 5*time.Second, "a string expires_in is understood")

		start := time.Now()
		tok, err := conf.DeviceAccessToken(ctx, da)
		require.NoError(t, err)
		assert.Equal(t, "at-device", tok.AccessToken)
		assert.EqualValues(t, 2, polls.Load(), "authorization_pending makes it poll again")
		assert.Equal(t, 2*time.Second, time.Since(start), "each poll waits the interval")
	})

	reqs := srv.requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "/rest/v2/oauth/device/authorize", reqs[0].Path)
	assert.Equal(t, "client-1", reqs[0].Form.Get("client_id"))
	assert.Equal(t, "item_read", reqs[0].Form.Get("scope"))
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:device_code", reqs[1].Form.Get("grant_type"))
	assert.Equal(t, "dc-SECRET", reqs[1].Form.Get("device_code"))
	for _, r := range reqs {
		assert.Equal(t, ultracart.APIVersion, r.Header.Get("X-UltraCart-Api-Version"))
	}
}

// TestDeviceSlowDown: after slow_down the next poll waits 5 s longer, so a
// 2.5 s deadline ends the wait after exactly one poll. Were slow_down not
// recognised, the poll's error would come back at once instead.
func TestDeviceSlowDown(t *testing.T) {
	srv, polls := deviceServer(t, "slow_down", "token")
	conf := testConfig(srv.URL)
	inBubble(t, srv.Config.Handler, func(t *testing.T, ctx context.Context) {
		da, err := conf.DeviceAuth(ctx)
		require.NoError(t, err)

		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		defer cancel()
		_, err = conf.DeviceAccessToken(ctx, da)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.EqualValues(t, 1, polls.Load())
		assert.Equal(t, 2500*time.Millisecond, time.Since(start), "the wait lasts until the deadline")
	})
}

func TestDeviceDenied(t *testing.T) {
	srv, _ := deviceServer(t, "access_denied")
	conf := testConfig(srv.URL)
	inBubble(t, srv.Config.Handler, func(t *testing.T, ctx context.Context) {
		da, err := conf.DeviceAuth(ctx)
		require.NoError(t, err)
		_, err = conf.DeviceAccessToken(ctx, da)
		assert.ErrorIs(t, err, ultracart.ErrAccessDenied)
		assert.NotContains(t, err.Error(), "dc-SECRET")
	})
}

func TestDeviceAuthErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   int // the status the *Error reports
	}{
		{"envelope", 403, `{"error":{"developer_message":"device flow disabled"}}`, 403},
		{"html at 200", 200, `<html>login</html>`, 200},
		{"200 without device_code", 200, `{"user_code":"X"}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, reply(tt.status, tt.body))
			_, err := testConfig(srv.URL).DeviceAuth(context.Background())
			var e *ultracart.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.want, e.StatusCode)
		})
	}
}

func TestDeviceAuthHonoursContext(t *testing.T) {
	srv := newRecorder(t, hang)
	inBubble(t, srv.Config.Handler, func(t *testing.T, ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := testConfig(srv.URL).DeviceAuth(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "it gives up at the deadline")
	})
}
