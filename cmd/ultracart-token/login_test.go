package main

import (
	"context"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

const (
	authorizeLine = "Open this URL to authorize: "
	waitingLine   = "Waiting for the redirect to "
)

// startLogin starts a login and returns it with the authorize URL it
// printed, once its callback server is listening.
func startLogin(t *testing.T, c *cli, ctx context.Context, args ...string) (*running, *url.URL) {
	t.Helper()
	r := c.start(ctx, append([]string{"login"}, args...)...)
	authURL, err := url.Parse(r.stderr.waitLine(t, authorizeLine))
	require.NoError(t, err)
	r.stderr.waitLine(t, waitingLine)
	return r, authURL
}

// assertCallbackClosed checks that nothing listens at the redirect URL any
// more. A process that another test starts at that moment holds a copy of
// the closed listener until it execs (connections then queue on it, and are
// reset), so the check allows a moment for that.
func assertCallbackClosed(t *testing.T, redirect string) {
	t.Helper()
	u, err := url.Parse(redirect)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 2*time.Second, 10*time.Millisecond, "the callback server still listens at %s", u.Host)
}

func TestLogin(t *testing.T) {
	const secret = "client-secret-value-7f3a"
	fixedRedirect := "http://" + freeAddr(t) + "/cb"
	tests := []struct {
		name         string
		env          map[string]string
		args         []string
		clientID     string
		redirect     *regexp.Regexp
		scope        string
		clientSecret string
	}{
		{
			name:     "defaults: random port",
			clientID: testClientID,
			redirect: regexp.MustCompile(`^http://127\.0\.0\.1:\d+/callback$`),
		},
		{
			name: "environment: redirect URL, scopes, client secret",
			env: map[string]string{
				"ULTRACART_REDIRECT_URL":  fixedRedirect,
				"ULTRACART_SCOPES":        "item_read, order_read",
				"ULTRACART_CLIENT_SECRET": secret,
			},
			clientID:     testClientID,
			redirect:     regexp.MustCompile("^" + regexp.QuoteMeta(fixedRedirect) + "$"),
			scope:        "item_read order_read",
			clientSecret: secret,
		},
		{
			name:     "flags beat the environment",
			env:      map[string]string{"ULTRACART_SCOPES": "order_read"},
			args:     []string{"--client-id", "flag-client", "--scopes", "item_write", "--no-browser"},
			clientID: "flag-client",
			redirect: regexp.MustCompile(`^http://127\.0\.0\.1:\d+/callback$`),
			scope:    "item_write",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			for k, v := range tt.env {
				c.env[k] = v
			}
			if tt.clientSecret != "" {
				c.fake.SetOptions(fakeuc.Options{ClientSecret: tt.clientSecret})
			}
			r, authURL := startLogin(t, c, context.Background(), tt.args...)

			// The authorize link.
			assert.Equal(t, c.fake.URL+fakeuc.AuthorizePath, authURL.Scheme+"://"+authURL.Host+authURL.Path)
			q := authURL.Query()
			assert.Equal(t, tt.clientID, q.Get("client_id"))
			assert.Equal(t, "code", q.Get("response_type"))
			assert.Len(t, q.Get("state"), 43, "256 bits of state")
			assert.Equal(t, tt.scope, q.Get("scope"))
			redirect := q.Get("redirect_uri")
			assert.Regexp(t, tt.redirect, redirect)
			assert.NotContains(t, q, "client_secret")

			// The person in the browser approves; the fake redirects to the callback.
			status, body := browse(t, authURL.String())
			assert.Equal(t, 200, status)
			assert.Contains(t, body, "Authorized. You can close this window.")

			res := r.wait(t)
			require.Equal(t, exitOK, res.code, res.stderr)
			assert.Empty(t, res.stdout, "login keeps stdout clean")
			granted := tt.scope
			if granted == "" {
				granted = fakeuc.DefaultScope
			}
			assert.Contains(t, res.stderr, "Authorized. Token saved to "+c.tokenFile+" (expires in 59m, scope "+granted+", refresh: yes).")
			assertNoSecrets(t, res.stdout+res.stderr)
			if tt.clientSecret != "" {
				assert.NotContains(t, res.stderr, tt.clientSecret)
			}

			// The exchange UltraCart saw.
			req, ok := c.fake.LastRequest(fakeuc.TokenPath)
			require.True(t, ok)
			assert.Equal(t, "POST", req.Method)
			assert.Equal(t, fakeuc.GrantAuthorizationCode, req.Form.Get("grant_type"))
			assert.True(t, strings.HasPrefix(req.Form.Get("code"), fakeuc.CodePrefix))
			assert.Equal(t, redirect, req.Form.Get("redirect_uri"))
			assert.Equal(t, tt.clientID, req.Form.Get("client_id"))
			assert.Equal(t, tt.clientSecret, req.Form.Get("client_secret"))
			assert.Equal(t, 1, c.fake.Stats().Exchange)

			// The saved token works.
			tok := c.loadToken()
			assert.Equal(t, 200, c.apiStatus(tok.AccessToken))
			assert.True(t, strings.HasPrefix(tok.RefreshToken, fakeuc.RefreshTokenPrefix))
			assertCallbackClosed(t, redirect)
		})
	}
}

func TestLoginFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(c *cli)
		callback func(authURL *url.URL) string // the URL the browser ends up opening
		wantPage string
		want     []string
	}{
		{
			name:     "denied",
			setup:    func(c *cli) { c.fake.SetOptions(fakeuc.Options{Deny: true}) },
			wantPage: "Authorization failed: authorization denied (access_denied",
			want:     []string{"ultracart-token: login: authorization denied", "access_denied"},
		},
		{
			name:     "authorize link expired",
			setup:    func(c *cli) { c.fake.SetOptions(fakeuc.Options{AuthorizeExpired: true}) },
			wantPage: "Authorization failed: the authorize link has expired",
			want:     []string{"ultracart-token: login: the authorize link has expired or is invalid", "invalid_request", "run login again"},
		},
		{
			name:     "exchange fails",
			setup:    func(c *cli) { c.fake.Fail(fakeuc.TokenPath, fakeuc.Fault{Status: 503}) },
			wantPage: "Authorization failed: exchanging the authorization code",
			want:     []string{"ultracart-token: login: exchanging the authorization code: ", "(HTTP 503)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if tt.setup != nil {
				tt.setup(c)
			}
			r, authURL := startLogin(t, c, context.Background())
			target := authURL.String()
			if tt.callback != nil {
				target = tt.callback(authURL)
			}
			status, body := browse(t, target)
			assert.Equal(t, 400, status)
			assert.Contains(t, body, tt.wantPage)
			assertNoSecrets(t, body)

			res := r.wait(t)
			assertFailed(t, res, exitFailure, tt.want...)
			assert.NoFileExists(t, c.tokenFile)
			assertCallbackClosed(t, authURL.Query().Get("redirect_uri"))
		})
	}
}

func TestLoginCallbackServer(t *testing.T) {
	c := newCLI(t)
	r, authURL := startLogin(t, c, context.Background())
	redirect := authURL.Query().Get("redirect_uri")

	// Requests that are not UltraCart's redirect do not end the login.
	status, _ := browse(t, strings.TrimSuffix(redirect, "/callback")+"/favicon.ico")
	assert.Equal(t, 404, status)
	status, body := browse(t, redirect)
	assert.Equal(t, 400, status)
	assert.Contains(t, body, "open the authorize URL")

	status, _ = browse(t, authURL.String())
	assert.Equal(t, 200, status)
	assert.Equal(t, exitOK, r.wait(t).code)
	assertCallbackClosed(t, redirect)
}

func TestLoginStops(t *testing.T) {
	t.Parallel() // the timeout is waited out: let the other tests run meanwhile
	t.Run("timeout", func(t *testing.T) {
		c := newCLI(t)
		r, authURL := startLogin(t, c, context.Background(), "--timeout", "300ms")
		res := r.wait(t)
		assertFailed(t, res, exitFailure, "ultracart-token: login: no authorization within 300ms; run login again (or raise --timeout)")
		assertCallbackClosed(t, authURL.Query().Get("redirect_uri"))
		assert.NoFileExists(t, c.tokenFile)
	})
	t.Run("interrupted", func(t *testing.T) {
		c := newCLI(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r, authURL := startLogin(t, c, ctx)
		cancel() // what Ctrl-C does to run's context
		res := r.wait(t)
		assertFailed(t, res, exitInterrupted, "ultracart-token: login: interrupted")
		assertCallbackClosed(t, authURL.Query().Get("redirect_uri"))
		assert.NoFileExists(t, c.tokenFile)
	})
}

func TestLoginDevice(t *testing.T) {
	visit := regexp.MustCompile(`(?m)^Visit (\S+) and enter code ([A-Z]{4}-[A-Z]{4})$`)
	t.Run("approved after a pending poll", func(t *testing.T) {
		c := newCLI(t)
		c.fake.SetOptions(fakeuc.Options{DevicePending: 1})
		c.inBubble(func(c *cli) {
			start := time.Now()
			r := c.run("login", "--device", "--scopes", "item_read,order_read")
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, 2*time.Second, time.Since(start), "two polls, an interval apart")
			assert.Empty(t, r.stdout)
			m := visit.FindStringSubmatch(r.stderr)
			require.NotNil(t, m, r.stderr)
			assert.Equal(t, c.fake.URL+fakeuc.DevicePath, m[1])
			assert.Contains(t, r.stderr, "Authorized. Token saved to "+c.tokenFile+" (expires in 1h0m, scope item_read order_read, refresh: yes).")
			assertNoSecrets(t, r.stdout+r.stderr)
			assert.Equal(t, 200, c.apiStatus(c.loadToken().AccessToken))
		})

		st := c.fake.Stats()
		assert.Equal(t, 1, st.Device)
		assert.Equal(t, 2, st.DeviceToken)
		req, ok := c.fake.LastRequest(fakeuc.DeviceAuthPath)
		require.True(t, ok)
		assert.Equal(t, testClientID, req.Form.Get("client_id"))
		assert.Equal(t, "item_read order_read", req.Form.Get("scope"))
		req, _ = c.fake.LastRequest(fakeuc.TokenPath)
		assert.Equal(t, fakeuc.GrantDeviceCode, req.Form.Get("grant_type"))
	})
	t.Run("denied", func(t *testing.T) {
		c := newCLI(t)
		c.fake.SetOptions(fakeuc.Options{Deny: true})
		c.inBubble(func(c *cli) {
			r := c.run("login", "--device", "--scopes", "item_read")
			assert.Equal(t, exitFailure, r.code)
			assert.Regexp(t, visit, r.stderr)
			assert.Contains(t, r.stderr, "ultracart-token: login: authorization denied (access_denied")
			assertNoSecrets(t, r.stdout+r.stderr)
		})
		assert.NoFileExists(t, c.tokenFile)
	})
	t.Run("UltraCart unreachable", func(t *testing.T) {
		c := newCLI(t)
		c.env["ULTRACART_ENDPOINT"] = closedURL(t)
		r := c.run("login", "--device", "--scopes", "item_read")
		assertFailed(t, r, exitFailure, "ultracart-token: login: starting the device flow: ", "connection refused")
	})
}
