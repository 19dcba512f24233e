package ultracart_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

const (
	testCode         = "code-SECRET-5b1f"
	testSecret       = "client-secret-SECRET-77aa"
	testAccessToken  = "at-SECRET-0c2d"
	testRefreshToken = "rt-SECRET-9e41"
)

func testConfig(baseURL string) *ultracart.Config {
	return &ultracart.Config{Config: oauth2.Config{
		ClientID:    "client-1",
		Endpoint:    ultracart.EndpointAt(baseURL + "/rest/v2"),
		RedirectURL: "https://app.example/callback?x=1",
		Scopes:      []string{ultracart.ScopeItemRead}, // the device flow requires one
	}}
}

func TestAuthCodeURL(t *testing.T) {
	tests := []struct {
		name  string
		conf  ultracart.Config
		state string
		want  url.Values
	}{
		{"redirect and scopes", ultracart.Config{Config: oauth2.Config{ClientID: "c 1&x", RedirectURL: "https://app.example/cb?a=b&c=d", Scopes: []string{ultracart.ScopeItemRead, ultracart.ScopeOrderWrite}}},
			"st/=&?", url.Values{"response_type": {"code"}, "client_id": {"c 1&x"}, "redirect_uri": {"https://app.example/cb?a=b&c=d"}, "scope": {"item_read order_write"}, "state": {"st/=&?"}}},
		{"preconfigured redirect leaves redirect_uri out", ultracart.Config{Config: oauth2.Config{ClientID: "c", RedirectURL: "https://app.example/cb"}, PreconfiguredRedirect: true},
			"s", url.Values{"response_type": {"code"}, "client_id": {"c"}, "state": {"s"}}},
		{"no scopes, no redirect", ultracart.Config{Config: oauth2.Config{ClientID: "c"}}, "s", url.Values{"response_type": {"code"}, "client_id": {"c"}, "state": {"s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.conf.AuthCodeURL(tt.state))
			require.NoError(t, err)
			assert.Equal(t, "https", u.Scheme)
			assert.Equal(t, "secure.ultracart.com", u.Host, "a zero Endpoint means UltraCart's")
			assert.Equal(t, "/rest/v2/oauth/authorize", u.Path)
			assert.Equal(t, tt.want, u.Query())
			assert.NotContains(t, u.RawQuery, " ", "values are URL-encoded")
		})
	}
}

func TestExchangeRequest(t *testing.T) {
	for _, secret := range []string{"", testSecret} {
		srv := newRecorder(t, reply(200, `{"access_token":"`+testAccessToken+`","refresh_token":"`+testRefreshToken+`","token_type":"bearer","expires_in":"3600","scope":"item_read"}`))
		conf := testConfig(srv.URL)
		conf.ClientSecret = secret
		conf.PreconfiguredRedirect = true // Exchange still sends redirect_uri

		before := time.Now()
		tok, err := conf.Exchange(context.Background(), testCode)
		require.NoError(t, err)

		assert.Equal(t, testAccessToken, tok.AccessToken)
		assert.Equal(t, testRefreshToken, tok.RefreshToken)
		assert.Equal(t, "Bearer", tok.Type())
		assert.Equal(t, "item_read", tok.Extra("scope"))
		assert.WithinDuration(t, before.Add(time.Hour), tok.Expiry, 5*time.Second)

		req := srv.only(t)
		assert.Equal(t, http.MethodPost, req.Method)
		assert.Equal(t, "/rest/v2/oauth/token", req.Path)
		assert.Equal(t, ultracart.APIVersion, req.Header.Get("X-UltraCart-Api-Version"))
		assert.Equal(t, "application/x-www-form-urlencoded", req.Header.Get("Content-Type"))
		assert.Empty(t, req.Header.Get("Authorization"), "client_id goes in the form, not in Basic auth")
		want := url.Values{
			"client_id":    {"client-1"},
			"grant_type":   {"authorization_code"},
			"code":         {testCode},
			"redirect_uri": {"https://app.example/callback?x=1"},
		}
		if secret != "" { // no client_secret when none is set
			want.Set("client_secret", secret)
		}
		assert.Equal(t, want, req.Form)
	}
}

func TestExchangeEmptyCode(t *testing.T) {
	srv := newRecorder(t, reply(200, `{}`))
	_, err := testConfig(srv.URL).Exchange(context.Background(), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ultracart: ")
	assert.Empty(t, srv.requests(), "no request for an empty code")
}

// TestDeviceAuthWithoutScope (issue 16, point 6): UltraCart's device
// authorization requires a scope. Config.DeviceAuth without one fails at
// once with an error that says so, and sends nothing.
func TestDeviceAuthWithoutScope(t *testing.T) {
	srv := newRecorder(t, reply(200, `{"device_code":"dc","user_code":"U","verification_uri":"https://v.example","expires_in":"600","interval":"1"}`))
	for _, scopes := range [][]string{nil, {}, {""}, {" ", ""}} {
		conf := testConfig(srv.URL)
		conf.Scopes = scopes
		da, err := conf.DeviceAuth(context.Background())
		require.Error(t, err, "scopes %q", scopes)
		assert.Nil(t, da)
		assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
		assert.Contains(t, err.Error(), "Scopes")
	}
	assert.Empty(t, srv.requests(), "nothing was sent")

	conf := testConfig(srv.URL)
	conf.Scopes = []string{ultracart.ScopeItemRead, ultracart.ScopeOrderRead}
	_, err := conf.DeviceAuth(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "item_read order_read", srv.only(t).Form.Get("scope"))
}
