package ultracart_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

func TestRevokeRequest(t *testing.T) {
	srv := newRecorder(t, reply(200, `{"successful":true,"message":"revoked"}`))
	conf := testConfig(srv.URL)
	ct := &countingTransport{base: http.DefaultTransport}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: ct})
	require.NoError(t, ultracart.Revoke(ctx, &conf.Config, testAccessToken))
	assert.EqualValues(t, 1, ct.n.Load(), "the client under oauth2.HTTPClient is used")

	req := srv.only(t)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "/rest/v2/oauth/revoke", req.Path)
	assert.Equal(t, "application/json", req.Header.Get("Accept"))
	assert.Equal(t, "application/x-www-form-urlencoded", req.Header.Get("Content-Type"))
	assert.Equal(t, ultracart.APIVersion, req.Header.Get("X-UltraCart-Api-Version"))
	assert.Equal(t, url.Values{"client_id": {"client-1"}, "token": {testAccessToken}}, req.Form)

	conf.ClientSecret = testSecret
	require.NoError(t, conf.Revoke(context.Background(), testAccessToken))
	assert.Equal(t, testSecret, srv.requests()[1].Form.Get("client_secret"))
}

func TestRevokeBadInput(t *testing.T) {
	srv := newRecorder(t, reply(200, `{"successful":true}`))
	conf := testConfig(srv.URL)
	require.Error(t, conf.Revoke(context.Background(), ""))

	other := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token"}}
	err := ultracart.Revoke(context.Background(), other, testAccessToken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "revoke URL")
	assert.Empty(t, srv.requests())
}

func TestRevokeHonoursContext(t *testing.T) {
	srv := newRecorder(t, hang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := testConfig(srv.URL).Revoke(ctx, testAccessToken)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var e *ultracart.Error
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Temporary())
	assert.Less(t, time.Since(start), 5*time.Second)
}
