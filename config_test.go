package ultracart_test

import (
	"context"
	"errors"
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
		{
			name:  "redirect and scopes",
			conf:  ultracart.Config{Config: oauth2.Config{ClientID: "c 1&x", RedirectURL: "https://app.example/cb?a=b&c=d", Scopes: []string{ultracart.ScopeItemRead, ultracart.ScopeOrderWrite}}},
			state: "st/=&?",
			want:  url.Values{"response_type": {"code"}, "client_id": {"c 1&x"}, "redirect_uri": {"https://app.example/cb?a=b&c=d"}, "scope": {"item_read order_write"}, "state": {"st/=&?"}},
		},
		{
			name:  "preconfigured redirect leaves redirect_uri out",
			conf:  ultracart.Config{Config: oauth2.Config{ClientID: "c", RedirectURL: "https://app.example/cb"}, PreconfiguredRedirect: true},
			state: "s",
			want:  url.Values{"response_type": {"code"}, "client_id": {"c"}, "state": {"s"}},
		},
		{
			name:  "no scopes, no redirect",
			conf:  ultracart.Config{Config: oauth2.Config{ClientID: "c"}},
			state: "s",
			want:  url.Values{"response_type": {"code"}, "client_id": {"c"}, "state": {"s"}},
		},
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

func TestErrors(t *testing.T) {
	envelope := `{"error":{"developer_message":"dev msg","error_code":"401","more_info":"https://docs.example/e","object_id":"obj-1","user_message":"user msg"},"metadata":{},"success":false}`
	tests := []struct {
		name      string
		status    int
		body      string
		headers   []string
		want      ultracart.Error // Err is not compared
		is        error
		temporary bool
		retrieve  bool // errors.As finds an *oauth2.RetrieveError
	}{
		{
			name: "rfc 6749 at 400", status: 400,
			body:    `{"error":"invalid_grant","error_description":"code expired","error_uri":"https://docs.example/g","expires_in":""}`,
			headers: []string{"UC-REST-ERROR", "code expired"},
			want:    ultracart.Error{StatusCode: 400, Code: "invalid_grant", Description: "code expired", URI: "https://docs.example/g", RESTError: "code expired"},
			is:      ultracart.ErrInvalidGrant, retrieve: true,
		},
		{
			name: "rfc 6749 at 200", status: 200,
			body:     `{"error":"invalid_request","error_description":"missing code"}`,
			want:     ultracart.Error{StatusCode: 200, Code: "invalid_request", Description: "missing code"},
			is:       ultracart.ErrInvalidRequest,
			retrieve: true,
		},
		{
			name: "access_denied", status: 403,
			body:     `{"error":"access_denied"}`,
			want:     ultracart.Error{StatusCode: 403, Code: "access_denied"},
			is:       ultracart.ErrAccessDenied,
			retrieve: true,
		},
		{
			name: "envelope at 401", status: 401, body: envelope,
			headers:  []string{"UC-REST-ERROR", "rest error"},
			want:     ultracart.Error{StatusCode: 401, DeveloperMessage: "dev msg", UserMessage: "user msg", MoreInfo: "https://docs.example/e", ObjectID: "obj-1", RESTError: "rest error"},
			retrieve: true,
		},
		{
			name: "envelope at 200", status: 200, body: envelope,
			want:     ultracart.Error{StatusCode: 200, DeveloperMessage: "dev msg", UserMessage: "user msg", MoreInfo: "https://docs.example/e", ObjectID: "obj-1"},
			retrieve: true,
		},
		{
			name: "html at 200", status: 200,
			body:     "<html>\n<body>Proxy   login</body></html>",
			headers:  []string{"Content-Type", "text/html"},
			want:     ultracart.Error{StatusCode: 200, Description: "unexpected response: <html> <body>Proxy login</body></html>"},
			retrieve: true,
		},
		{
			name: "html at 502", status: 502,
			body:      "<html>bad gateway</html>",
			headers:   []string{"Content-Type", "text/html"},
			want:      ultracart.Error{StatusCode: 502, Description: "unexpected response: <html>bad gateway</html>"},
			temporary: true, retrieve: true,
		},
		{
			name: "empty body at 500", status: 500, body: "",
			want:      ultracart.Error{StatusCode: 500, Description: "empty response"},
			temporary: true, retrieve: true,
		},
		{
			name: "429 with retry-after", status: 429, body: `{"error":"slow_down_please"}`,
			headers:   []string{"Retry-After", "7"},
			want:      ultracart.Error{StatusCode: 429, Code: "slow_down_please", RetryAfter: 7 * time.Second},
			temporary: true, retrieve: true,
		},
		{
			name: "408", status: 408, body: `{}`,
			want:      ultracart.Error{StatusCode: 408},
			temporary: true, retrieve: true,
		},
		{
			name: "200 without access_token", status: 200, body: `{"token_type":"bearer","expires_in":"3600"}`,
			want:     ultracart.Error{StatusCode: 200, Description: "malformed token response: no access_token"},
			retrieve: true,
		},
		{
			name: "200 with a numeric access_token", status: 200, body: `{"access_token":12}`,
			want:     ultracart.Error{StatusCode: 200, Description: "malformed token response: no access_token"},
			retrieve: true,
		},
		{
			name: "body over 1 MiB", status: 200, body: `{"access_token":"a","pad":"` + strings.Repeat("x", 1<<20) + `"}`,
			want:     ultracart.Error{StatusCode: 200, Description: "response body exceeds 1 MiB"},
			retrieve: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, reply(tt.status, tt.body, tt.headers...))
			tok, err := testConfig(srv.URL).Exchange(context.Background(), testCode)
			require.Error(t, err)
			assert.Nil(t, tok)

			var e *ultracart.Error
			require.ErrorAs(t, err, &e)
			got := *e
			got.Err = nil
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.temporary, e.Temporary())
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, other := range []error{ultracart.ErrInvalidGrant, ultracart.ErrAccessDenied, ultracart.ErrInvalidRequest} {
				if other != tt.is {
					assert.NotErrorIs(t, err, other)
				}
			}
			var re *oauth2.RetrieveError
			assert.Equal(t, tt.retrieve, errors.As(err, &re))

			// The same response through a plain oauth2.Config and NewContext
			// gives an *oauth2.RetrieveError with the RFC 6749 fields.
			plain := testConfig(srv.URL).Config
			_, perr := plain.Exchange(ultracart.NewContext(context.Background()), testCode)
			require.ErrorAs(t, perr, &re)
			assert.NotEmpty(t, re.ErrorCode)
			if tt.want.Code != "" {
				assert.Equal(t, tt.want.Code, re.ErrorCode)
			}
		})
	}
}

// TestRefusedRefreshInEnvelope (issue 16, point 5): UltraCart's OpenAPI
// spec declares the token endpoint's errors as an ErrorResponse envelope
// with the UC-REST-ERROR header, which carries no RFC 6749 code. A 400 or
// 401 so answered to a refresh_token grant is a refused refresh token: it
// matches ErrInvalidGrant (and not ErrInvalidToken), and is not temporary.
// For the authorization_code and device_code grants such an answer matches
// nothing: it may mean a wrong redirect_uri or client as well. An RFC 6749
// invalid_grant matches for all three; a refresh answered without
// UltraCart's form (a proxy's page) or with another status does not.
func TestRefusedRefreshInEnvelope(t *testing.T) {
	t.Parallel() // the device polls wait their interval
	const envelope = `{"error":{"developer_message":"The refresh token is invalid.","error_code":"400"},"metadata":{},"success":false}`
	header := []string{"UC-REST-ERROR", "The refresh token is invalid."}
	type answer struct {
		status  int
		body    string
		headers []string
	}
	expired := &oauth2.Token{AccessToken: testAccessToken, RefreshToken: testRefreshToken, Expiry: time.Now().Add(-time.Hour)}
	grants := []struct {
		name  string
		grant string
		call  func(ctx context.Context, conf *ultracart.Config) error
	}{
		{"code", "authorization_code", func(ctx context.Context, conf *ultracart.Config) error {
			_, err := conf.Exchange(ctx, testCode)
			return err
		}},
		{"refresh/Config.TokenSource", "refresh_token", func(ctx context.Context, conf *ultracart.Config) error {
			_, err := conf.TokenSource(ctx, expired).Token()
			return err
		}},
		{"refresh/PersistentTokenSource", "refresh_token", func(ctx context.Context, conf *ultracart.Config) error {
			_, err := ultracart.PersistentTokenSource(ctx, &conf.Config, ultracart.NewMemoryStore(expired)).Token()
			return err
		}},
		{"device", "urn:ietf:params:oauth:grant-type:device_code", func(ctx context.Context, conf *ultracart.Config) error {
			_, err := conf.DeviceAccessToken(ctx, &oauth2.DeviceAuthResponse{DeviceCode: "dc", Interval: 1})
			return err
		}},
	}
	for _, tt := range []struct {
		name    string
		answer  answer
		refresh bool // the refresh grant's error matches ErrInvalidGrant
		others  bool // so do the code and device grants' errors
	}{
		{"rfc 6749 invalid_grant", answer{400, `{"error":"invalid_grant","error_description":"expired"}`, nil}, true, true},
		{"envelope at 400", answer{400, envelope, header}, true, false},
		{"envelope at 401", answer{401, envelope, header}, true, false},
		{"envelope at 400 without the header", answer{400, envelope, nil}, true, false},
		{"the header at 400 with an empty body", answer{400, ``, header}, true, false},
		{"rfc 6749 invalid_request", answer{400, `{"error":"invalid_request"}`, header}, false, false},
		{"a proxy's page at 400", answer{400, `<html>Bad Request</html>`, []string{"Content-Type", "text/html"}}, false, false},
		{"envelope at 403", answer{403, envelope, header}, false, false},
		{"envelope at 500", answer{500, envelope, header}, false, false},
	} {
		for _, g := range grants {
			t.Run(tt.name+"/"+g.name, func(t *testing.T) {
				t.Parallel()
				srv := newRecorder(t, reply(tt.answer.status, tt.answer.body, tt.answer.headers...))
				err := g.call(ownTransport(t), testConfig(srv.URL))
				var e *ultracart.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tt.answer.status, e.StatusCode)
				assert.Equal(t, g.grant, srv.only(t).Form.Get("grant_type"))
				want := tt.others
				if g.grant == "refresh_token" {
					want = tt.refresh
				}
				assert.Equal(t, want, errors.Is(err, ultracart.ErrInvalidGrant), "matches ErrInvalidGrant: %v", err)
				if want {
					assert.False(t, e.Temporary())
					assert.NotErrorIs(t, err, ultracart.ErrInvalidToken)
				}
				assert.NotErrorIs(t, err, ultracart.ErrAccessDenied)
				if g.grant == "refresh_token" {
					// Through a plain oauth2.Config, x/oauth2 reads the code.
					plain := testConfig(srv.URL).Config
					_, err := plain.TokenSource(ultracart.NewContext(ownTransport(t)), expired).Token()
					var re *oauth2.RetrieveError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, want, re.ErrorCode == "invalid_grant", "x/oauth2's error code: %q", re.ErrorCode)
				}
			})
		}
	}
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

// TestExchangeThroughSameOriginRedirect: a token request redirected within
// its origin is still a token request, whose answer is translated (here an
// expires_in that plain x/oauth2 cannot read) and whose form is sent again.
func TestExchangeThroughSameOriginRedirect(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rest/v2/oauth/token" {
			http.Redirect(w, r, "/moved/token", http.StatusPermanentRedirect)
			return
		}
		reply(200, `{"access_token":"a","token_type":"bearer","expires_in":" 3600"}`)(w, r)
	})
	before := time.Now()
	tok, err := testConfig(srv.URL).Exchange(context.Background(), testCode)
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(time.Hour), tok.Expiry, 5*time.Second)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/moved/token", reqs[1].Path)
	assert.Equal(t, testCode, reqs[1].Form.Get("code"))
	assert.Equal(t, ultracart.APIVersion, reqs[1].Header.Get("X-UltraCart-Api-Version"))
}
