package ultracart_test

import (
	"context"
	"errors"
	"fmt"
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

func TestEndpointAt(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8080/rest/v2", "http://127.0.0.1:8080/rest/v2/"} {
		ep := ultracart.EndpointAt(base)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/token", ep.TokenURL)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/authorize", ep.AuthURL)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/device/authorize", ep.DeviceAuthURL)
		assert.Equal(t, oauth2.AuthStyleInParams, ep.AuthStyle)
	}
	assert.Equal(t, ultracart.Endpoint, ultracart.EndpointAt("https://secure.ultracart.com/rest/v2"))
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
	srv := newRecorder(t, reply(200, `{"access_token":"`+testAccessToken+`","refresh_token":"`+testRefreshToken+`","token_type":"bearer","expires_in":"3600","scope":"item_read"}`))
	conf := testConfig(srv.URL)
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
	assert.Equal(t, url.Values{
		"client_id":    {"client-1"},
		"grant_type":   {"authorization_code"},
		"code":         {testCode},
		"redirect_uri": {"https://app.example/callback?x=1"},
	}, req.Form, "no client_secret when none is set")
}

func TestExchangeSendsClientSecretWhenSet(t *testing.T) {
	srv := newRecorder(t, reply(200, `{"access_token":"a","expires_in":"60"}`))
	conf := testConfig(srv.URL)
	conf.ClientSecret = testSecret
	_, err := conf.Exchange(context.Background(), testCode)
	require.NoError(t, err)
	assert.Equal(t, testSecret, srv.only(t).Form.Get("client_secret"))
}

func TestExchangeEmptyCode(t *testing.T) {
	srv := newRecorder(t, reply(200, `{}`))
	_, err := testConfig(srv.URL).Exchange(context.Background(), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ultracart: ")
	assert.Empty(t, srv.requests(), "no request for an empty code")
}

// TestExpiresIn covers every shape of expires_in: none of them fails the
// exchange, since the code is single-use.
func TestExpiresIn(t *testing.T) {
	const unknown = -1
	tests := []struct {
		raw  string // the JSON value; "" leaves the member out
		want int64  // seconds, or unknown
	}{
		{`"3600"`, 3600},
		{`3600`, 3600},
		{`" 3600"`, 3600},
		{`"3600 "`, 3600},
		{"\"\\t3600\\n\"", 3600},
		{`"3600.0"`, 3600},
		{`"3600.9"`, 3600},
		{`3600.9`, 3600},
		{`"+60"`, 60},
		{`"6e1"`, 60},
		{`1`, 1},
		{`"1.999"`, 1},
		{`"0.999"`, unknown},
		{`""`, unknown},
		{`"   "`, unknown},
		{`null`, unknown},
		{``, unknown},
		{`"abc"`, unknown},
		{`"3600s"`, unknown},
		{`"0x10"`, unknown},
		{`"Inf"`, unknown},
		{`"NaN"`, unknown},
		{`"1_000"`, unknown},
		{`0`, unknown},
		{`"0"`, unknown},
		{`-1`, unknown},
		{`"-3600"`, unknown},
		{`true`, unknown},
		{`{}`, unknown},
		{`[3600]`, unknown},
		{`2147483647`, 2147483647},
		{`2147483648`, 2147483647},
		{`"1e40"`, 2147483647},
		{`1e400`, 2147483647},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			body := `{"access_token":"a","token_type":"bearer"`
			if tt.raw != "" {
				body += `,"expires_in":` + tt.raw
			}
			body += `}`
			srv := newRecorder(t, reply(200, body))
			for name, exchange := range map[string]func() (*oauth2.Token, error){
				"Config": func() (*oauth2.Token, error) {
					return testConfig(srv.URL).Exchange(context.Background(), testCode)
				},
				"NewContext": func() (*oauth2.Token, error) {
					plain := testConfig(srv.URL).Config
					return plain.Exchange(ultracart.NewContext(context.Background()), testCode)
				},
			} {
				before := time.Now()
				tok, err := exchange()
				require.NoError(t, err, name)
				if tt.want == unknown {
					assert.True(t, tok.Expiry.IsZero(), "%s: expiry %v", name, tok.Expiry)
					continue
				}
				want := before.Add(time.Duration(tt.want) * time.Second)
				assert.WithinDuration(t, want, tok.Expiry, 5*time.Second, name)
			}
		})
	}
}

// TestExpiresInSpelledInAnyCase (issue 17, point 10): x/oauth2 reads the
// token JSON with encoding/json, which matches member names without regard
// to case, by Unicode's simple folding (the long s ſ folds to s): a member
// so spelled must be normalized like expires_in itself, or the exchange
// fails with an untyped error and the single-use code is lost.
func TestExpiresInSpelledInAnyCase(t *testing.T) {
	const unknown = -1
	tests := []struct {
		members string // the members after access_token
		want    int64  // seconds, or unknown
	}{
		{`"Expires_In":""`, unknown},
		{`"EXPIRES_IN":" 3600"`, 3600},
		{`"expireſ_in":"60.5"`, 60},
		{`"Expires_in":"abc","expires_in":"120"`, 120},
		{`"EXPIRES_IN":"7200","Expires_In":null`, 7200},
		{`"eXpIrEs_In":{"n":1}`, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.members, func(t *testing.T) {
			srv := newRecorder(t, reply(200, `{"access_token":"a","token_type":"bearer",`+tt.members+`}`))
			for name, exchange := range map[string]func() (*oauth2.Token, error){
				"Config": func() (*oauth2.Token, error) {
					return testConfig(srv.URL).Exchange(context.Background(), testCode)
				},
				"NewContext": func() (*oauth2.Token, error) {
					plain := testConfig(srv.URL).Config
					return plain.Exchange(ultracart.NewContext(context.Background()), testCode)
				},
			} {
				before := time.Now()
				tok, err := exchange()
				require.NoError(t, err, name)
				assert.Equal(t, "a", tok.AccessToken, name)
				if tt.want == unknown {
					assert.True(t, tok.Expiry.IsZero(), "%s: expiry %v", name, tok.Expiry)
					continue
				}
				assert.WithinDuration(t, before.Add(time.Duration(tt.want)*time.Second), tok.Expiry, 5*time.Second, name)
			}
			assert.Len(t, srv.requests(), 2, "one request each")
		})
	}
}

// TestPlainOAuth2FailsWithoutTranslation shows what NewContext is for: the
// same answer that works through it breaks plain x/oauth2.
func TestPlainOAuth2FailsWithoutTranslation(t *testing.T) {
	srv := newRecorder(t, reply(200, `{"access_token":"a","expires_in":" 3600"}`))
	plain := testConfig(srv.URL).Config
	_, err := plain.Exchange(context.Background(), testCode)
	require.Error(t, err)
	tok, err := plain.Exchange(ultracart.NewContext(context.Background()), testCode)
	require.NoError(t, err)
	assert.Equal(t, "a", tok.AccessToken)
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

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  *ultracart.Error
		want string
	}{
		{&ultracart.Error{StatusCode: 400, Code: "invalid_grant", Description: "expired"}, "ultracart: invalid_grant: expired (HTTP 400)"},
		{&ultracart.Error{Code: "access_denied"}, "ultracart: access_denied"},
		{&ultracart.Error{StatusCode: 401, DeveloperMessage: "dev", UserMessage: "user", RESTError: "rest"}, "ultracart: dev (HTTP 401)"},
		{&ultracart.Error{StatusCode: 404, RESTError: "rest"}, "ultracart: rest (HTTP 404)"},
		{&ultracart.Error{StatusCode: 500}, "ultracart: request failed (HTTP 500)"},
		{&ultracart.Error{Err: context.Canceled}, "ultracart: context canceled"},
		{&ultracart.Error{}, "ultracart: request failed"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  *ultracart.Error
		want bool
	}{
		{&ultracart.Error{StatusCode: 400}, false},
		{&ultracart.Error{StatusCode: 401}, false},
		{&ultracart.Error{StatusCode: 407}, false},
		{&ultracart.Error{StatusCode: 408}, true},
		{&ultracart.Error{StatusCode: 429}, true},
		{&ultracart.Error{StatusCode: 499}, false},
		{&ultracart.Error{StatusCode: 500}, true},
		{&ultracart.Error{StatusCode: 599}, true},
		{&ultracart.Error{StatusCode: 600}, false},
		{&ultracart.Error{}, false},
		{&ultracart.Error{Err: context.DeadlineExceeded}, true},
		{&ultracart.Error{Err: context.Canceled}, false},
		{&ultracart.Error{Err: &url.Error{Op: "Post", URL: "u", Err: fmt.Errorf("read: %w", errReset)}}, true},
		{&ultracart.Error{Err: errors.New("no such host")}, false},
	}
	for i, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Temporary(), "row %d: %v", i, tt.err)
	}
}

// TestNoSecretsInErrors makes a server echo every secret of the request in
// every text it sends back, and checks that no error text carries one.
func TestNoSecretsInErrors(t *testing.T) {
	// Each call is checked for the secrets its own request carried: the
	// package can only recognise what it sent.
	exchangeSecrets := []string{testCode, testSecret}
	refreshSecrets := []string{testRefreshToken, testSecret}
	echo := testCode + " " + testSecret + " " + testRefreshToken + " " + testAccessToken
	bodies := []struct {
		name, contentType, body string
	}{
		{"rfc", "application/json", `{"error":"invalid_grant ` + echo + `","error_description":"` + echo + `","error_uri":"https://x/` + echo + `"}`},
		{"envelope", "application/json", `{"error":{"developer_message":"` + echo + `","user_message":"` + echo + `","more_info":"` + echo + `","object_id":"` + echo + `"}}`},
		{"html", "text/html", `<html>you sent ` + echo + ` and ` + url.QueryEscape(testCode) + `</html>`},
		{"form", "application/x-www-form-urlencoded", `error=invalid_grant&error_description=` + url.QueryEscape(echo)},
	}
	for _, b := range bodies {
		for _, status := range []int{200, 400, 500} {
			t.Run(fmt.Sprintf("%s/%d", b.name, status), func(t *testing.T) {
				srv := newRecorder(t, reply(status, b.body, "Content-Type", b.contentType, "UC-REST-ERROR", echo))
				conf := testConfig(srv.URL)
				conf.ClientSecret = testSecret
				ctx := context.Background()
				_, err1 := conf.Exchange(ctx, testCode)
				_, err2 := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: testRefreshToken, AccessToken: testAccessToken, Expiry: time.Now().Add(-time.Hour)}).Token()
				plain := conf.Config
				_, err3 := plain.Exchange(ultracart.NewContext(ctx), testCode)
				for i, err := range []error{err1, err2, err3} {
					require.Error(t, err, "call %d", i)
					secrets := exchangeSecrets
					if i == 1 {
						secrets = refreshSecrets
					}
					for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
						text := fmt.Sprintf(verb, err)
						for _, s := range secrets {
							assert.NotContains(t, text, s, "call %d, verb %s", i, verb)
						}
					}
				}
				var e *ultracart.Error
				require.ErrorAs(t, err1, &e)
				assert.Contains(t, e.Error(), "[redacted]")
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
