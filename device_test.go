package ultracart_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart"
)

// deviceServer answers device authorization in UltraCart's dialect (string
// numbers) and then the polls with the given answers, in order. It serves in
// memory, so that the polls wait their interval at no cost in a bubble.
func deviceServer(polls ...string) (*memServer, *atomic.Int32) {
	var n atomic.Int32
	return newMemServer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rest/v2/oauth/device/authorize" {
			reply(200, `{"device_code":"dc-SECRET","user_code":"ABCD-EFGH","verification_uri":"https://ultracart.example/device","expires_in":"600","interval":"1"}`)(w, r)
			return
		}
		answer := polls[min(int(n.Add(1)), len(polls))-1]
		if answer == "token" {
			reply(200, `{"access_token":"at-device","refresh_token":"rt-device","token_type":"bearer","expires_in":"3600"}`)(w, r)
			return
		}
		reply(400, `{"error":"`+answer+`"}`)(w, r)
	}), &n
}

func TestDeviceFlow(t *testing.T) {
	srv, polls := deviceServer("authorization_pending", "token")
	conf := testConfig("http://uc.test")
	synctest.Test(t, func(t *testing.T) {
		ctx := srv.ctx()
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
	assert.Equal(t, "/rest/v2/oauth/device/authorize", reqs[0].URL.Path)
	assert.Equal(t, "client-1", reqs[0].Form.Get("client_id"))
	assert.Equal(t, "item_read", reqs[0].Form.Get("scope"))
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:device_code", reqs[1].Form.Get("grant_type"))
	assert.Equal(t, "dc-SECRET", reqs[1].Form.Get("device_code"))
	for _, r := range reqs {
		assert.Equal(t, ultracart.APIVersion, r.Header.Get("X-UltraCart-Api-Version"))
	}
}

// The polls that end the flow otherwise, each in a bubble with a 2.5 s
// deadline: after slow_down the next poll waits 5 s longer, so the deadline
// ends the wait after exactly one poll (were slow_down not recognised, its
// error would come back at once); access_denied ends it at once.
func TestDevicePollErrors(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   error
		wait   time.Duration
	}{{"slow_down", context.DeadlineExceeded, 2500 * time.Millisecond}, {"access_denied", ultracart.ErrAccessDenied, time.Second}} {
		t.Run(tc.answer, func(t *testing.T) {
			srv, polls := deviceServer(tc.answer, "token")
			conf := testConfig("http://uc.test")
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(srv.ctx(), 2500*time.Millisecond)
				defer cancel()
				da, err := conf.DeviceAuth(ctx)
				require.NoError(t, err)
				start := time.Now()
				_, err = conf.DeviceAccessToken(ctx, da)
				assert.ErrorIs(t, err, tc.want)
				assert.NotContains(t, err.Error(), "dc-SECRET")
				assert.EqualValues(t, 1, polls.Load())
				assert.Equal(t, tc.wait, time.Since(start))
			})
		})
	}
}

func TestDeviceAuthErrors(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		status     int // the status the *Error reports too
	}{
		{"envelope", `{"error":{"developer_message":"device flow disabled"}}`, 403},
		{"html at 200", `<html>login</html>`, 200},
		{"200 without device_code", `{"user_code":"X"}`, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, reply(tt.status, tt.body))
			_, err := testConfig(srv.URL).DeviceAuth(context.Background())
			var e *ultracart.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.status, e.StatusCode)
		})
	}
}

func TestDeviceAuthHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(newMemServer(hang).ctx(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := testConfig("http://uc.test").DeviceAuth(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "it gives up at the deadline")
	})
}
