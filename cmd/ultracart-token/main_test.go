package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Usage:\n  ultracart-token <command> [flags]"},
		{[]string{"-h"}, "Usage:\n  ultracart-token <command> [flags]"},
		{[]string{"help"}, "Usage:\n  ultracart-token <command> [flags]"},
		{[]string{"help", "token"}, "Usage: ultracart-token token [flags]"},
		{[]string{"login", "--help"}, "Usage: ultracart-token login [flags]"},
		{[]string{"login", "-h"}, "--device"},
		{[]string{"token", "--help"}, "Usage: ultracart-token token [flags]"},
		{[]string{"status", "--help"}, "Usage: ultracart-token status [flags]"},
		{[]string{"revoke", "--help"}, "Usage: ultracart-token revoke (or logout) [flags]"},
		{[]string{"logout", "--help"}, "Usage: ultracart-token revoke (or logout) [flags]"},
		{[]string{"demo", "--help"}, "Usage: ultracart-token demo [flags]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newCLI(t)
			delete(c.env, "ULTRACART_CLIENT_ID") // help needs no client id
			r := c.run(tt.args...)
			assert.Equal(t, exitOK, r.code)
			assert.Contains(t, r.stdout, tt.want)
			assert.Empty(t, r.stderr)
		})
	}

	// Each command's help lists its flags with their environment variables.
	c := newCLI(t)
	r := c.run("login", "--help")
	for _, s := range []string{
		"--client-id ID", "$ULTRACART_CLIENT_ID", "--client-secret-file PATH", "$ULTRACART_CLIENT_SECRET_FILE", "$ULTRACART_CLIENT_SECRET\n",
		"--redirect-url URL", "$ULTRACART_REDIRECT_URL", "--scopes LIST", "$ULTRACART_SCOPES",
		"--token-file PATH", "$ULTRACART_TOKEN_FILE", "--no-browser", "--timeout DURATION",
	} {
		assert.Contains(t, r.stdout, s)
	}
	r = c.run("status", "--help")
	assert.Contains(t, r.stdout, "--token-file")
	assert.NotContains(t, r.stdout, "--client-secret-file", "status needs no client secret")
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		unset string // an environment variable to remove
		want  string
	}{
		{name: "no command", args: nil, want: "Usage:"},
		{name: "unknown command", args: []string{"tokn"}, want: `ultracart-token: unknown command "tokn"`},
		{name: "unknown flag", args: []string{"token", "--bogus"}, want: "ultracart-token: token: flag provided but not defined: --bogus\n"},
		{name: "flag of another command", args: []string{"status", "--refresh"}, want: "flag provided but not defined: --refresh\n"},
		{name: "extra argument", args: []string{"token", "extra"}, want: `ultracart-token: token: unexpected argument "extra"`},
		{name: "no client id for login", args: []string{"login"}, unset: "ULTRACART_CLIENT_ID", want: "ultracart-token: login: no client id: pass --client-id or set ULTRACART_CLIENT_ID (login remembers it)\n"},
		{name: "bad endpoint", args: []string{"token", "--endpoint", "127.0.0.1:1/rest/v2"}, want: "--endpoint 127.0.0.1:1/rest/v2: must be an https URL"},
		{name: "bad timeout", args: []string{"login", "--timeout", "0s"}, want: "--timeout must be positive"},
		{name: "redirect URL not on this machine", args: []string{"login", "--redirect-url", "https://app.example/callback"}, want: "ultracart-token: login: --redirect-url must be an http URL on this machine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			delete(c.env, tt.unset)
			r := c.run(tt.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tt.want)
			assert.Zero(t, c.fake.Stats(), "no request on a usage error")
		})
	}
}

// expired returns a copy of tok whose access token has expired, at the
// fake and in the token itself.
func expired(c *cli, tok *oauth2.Token) *oauth2.Token {
	c.fake.ExpireAccessTokens()
	e := *tok
	e.Expiry = time.Now().Add(-time.Minute)
	return &e
}

func TestToken(t *testing.T) {
	t.Run("valid token: printed as it is, no request", func(t *testing.T) {
		c := newCLI(t)
		tok := c.fake.IssueToken("")
		c.saveToken(tok)
		r := c.run("token")
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, tok.AccessToken+"\n", r.stdout)
		assert.Empty(t, r.stderr)
		assert.Zero(t, c.fake.Stats())
	})
	t.Run("token about to expire: refreshed before it is printed, nothing left running", func(t *testing.T) {
		c := newCLI(t)
		old := c.fake.IssueToken("")
		soon := *old
		soon.Expiry = time.Now().Add(30 * time.Second)
		c.saveToken(&soon)
		r := c.run("token")
		require.Equal(t, exitOK, r.code, r.stderr)
		access := strings.TrimSuffix(r.stdout, "\n")
		assert.NotEqual(t, old.AccessToken, access, "a script gets a token with time to use it")
		assert.Equal(t, 1, c.fake.Stats().Refresh)
		assert.Equal(t, access, c.loadToken().AccessToken, "saved before it was printed")
		// A refresh left running in the background would be lost when the
		// program exits, with the rotated refresh token.
		r = c.run("token")
		assert.Equal(t, access+"\n", r.stdout)
		assert.Equal(t, 1, c.fake.Stats().Refresh, "no background refresh either")
	})
	t.Run("expired token: refreshed, rotated refresh token saved", func(t *testing.T) {
		c := newCLI(t)
		old := c.fake.IssueToken("")
		c.saveToken(expired(c, old))
		r := c.run("token")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		access := strings.TrimSuffix(r.stdout, "\n")
		assert.NotEqual(t, old.AccessToken, access)
		assert.True(t, strings.HasPrefix(access, fakeuc.AccessTokenPrefix))
		assert.Equal(t, access+"\n", r.stdout, "only the token on stdout")
		assert.Equal(t, 1, c.fake.Stats().Refresh)
		assert.Equal(t, 200, c.apiStatus(access))

		saved := c.loadToken()
		assert.Equal(t, access, saved.AccessToken)
		assert.NotEqual(t, old.RefreshToken, saved.RefreshToken, "rotated")
		assert.True(t, saved.Expiry.After(time.Now().Add(59*time.Minute)))

		req, ok := c.fake.LastRequest(fakeuc.TokenPath)
		require.True(t, ok)
		assert.Equal(t, "POST", req.Method)
		assert.Equal(t, fakeuc.GrantRefreshToken, req.Form.Get("grant_type"))
		assert.Equal(t, old.RefreshToken, req.Form.Get("refresh_token"))
		assert.Equal(t, testClientID, req.Form.Get("client_id"))
		assert.Equal(t, ultracart.APIVersion, req.Header.Get(ultracart.APIVersionHeader))

		// The next run uses the saved token without another refresh.
		r = c.run("token")
		assert.Equal(t, r.stdout, access+"\n")
		assert.Equal(t, 1, c.fake.Stats().Refresh)
	})
	t.Run("--refresh: refreshed although valid", func(t *testing.T) {
		c := newCLI(t)
		old := c.fake.IssueToken("")
		c.saveToken(old)
		c.fake.ExpireAccessTokens() // dead at UltraCart, valid by its Expiry
		require.Equal(t, 401, c.apiStatus(old.AccessToken))
		r := c.run("token", "--refresh")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		access := strings.TrimSuffix(r.stdout, "\n")
		assert.NotEqual(t, old.AccessToken, access)
		assert.Equal(t, 1, c.fake.Stats().Refresh)
		assert.Equal(t, 200, c.apiStatus(access))
		saved := c.loadToken()
		assert.Equal(t, access, saved.AccessToken)
		assert.NotEqual(t, old.RefreshToken, saved.RefreshToken, "rotated and saved")
		req, ok := c.fake.LastRequest(fakeuc.TokenPath)
		require.True(t, ok)
		assert.Equal(t, fakeuc.GrantRefreshToken, req.Form.Get("grant_type"))
		assert.Equal(t, old.RefreshToken, req.Form.Get("refresh_token"))
	})
	t.Run("unknown expiry: said on stderr", func(t *testing.T) {
		c := newCLI(t)
		tok := c.fake.IssueToken("")
		tok.Expiry = time.Time{}
		c.saveToken(tok)
		r := c.run("token")
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, tok.AccessToken+"\n", r.stdout)
		assert.Contains(t, r.stderr, "expiry is unknown")
		assert.Contains(t, r.stderr, "--refresh")
		assertNoSecrets(t, r.stderr)
		assert.Zero(t, c.fake.Stats().Refresh)
	})
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		token   func(c *cli) *oauth2.Token
		expires func(tok *oauth2.Token) string
		scope   string
		refresh string
	}{
		{
			name:    "valid",
			token:   func(c *cli) *oauth2.Token { return c.fake.IssueToken("") },
			expires: func(tok *oauth2.Token) string { return tok.Expiry.Format(time.RFC3339) + " (in 59m)" },
			scope:   "item_read",
			refresh: "yes",
		},
		{
			name: "expired, can refresh",
			token: func(c *cli) *oauth2.Token {
				tok := *c.fake.IssueToken("")
				tok.Expiry = time.Now().Add(-2*time.Hour - time.Second)
				return &tok
			},
			expires: func(tok *oauth2.Token) string { return tok.Expiry.Format(time.RFC3339) + " (expired 2h0m ago)" },
			scope:   "item_read",
			refresh: "yes",
		},
		{
			name:    "no lifetime, no refresh token",
			token:   func(c *cli) *oauth2.Token { return &oauth2.Token{AccessToken: c.fake.IssueToken("").AccessToken} },
			expires: func(*oauth2.Token) string { return "unknown (UltraCart gave no lifetime)" },
			scope:   "unknown",
			refresh: "no",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.saveToken(tt.token(c))
			before := c.fake.Stats()
			r := c.run("status")
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Empty(t, r.stderr)
			want := fmt.Sprintf("token file: %s\nclient id:  %s\nendpoint:   %s/rest/v2\n"+
				"expires:    %s\nscope:      %s\nrefresh:    %s\n",
				c.tokenFile, testClientID, c.fake.URL, tt.expires(c.loadToken()), tt.scope, tt.refresh)
			assert.Equal(t, want, r.stdout)
			assertNoSecrets(t, r.stdout)
			assert.Equal(t, before, c.fake.Stats(), "status makes no request")
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Run("valid token", func(t *testing.T) {
		for _, name := range []string{"revoke", "logout"} {
			t.Run(name, func(t *testing.T) {
				c := newCLI(t)
				tok := c.fake.IssueToken("")
				c.saveToken(tok)
				unlock, err := ultracart.NewFileStore(c.tokenFile).Lock(context.Background()) // leaves a .lock file
				require.NoError(t, err)
				unlock()

				r := c.run(name)
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, "Revoked at UltraCart; removed "+c.tokenFile+"\n", r.stdout)
				assert.Empty(t, r.stderr)
				assert.NoFileExists(t, c.tokenFile)
				assert.FileExists(t, c.tokenFile+".lock", "deleting a lock file breaks the lock of its holders")

				req, ok := c.fake.LastRequest(fakeuc.RevokePath)
				require.True(t, ok)
				assert.Equal(t, "POST", req.Method)
				assert.Equal(t, tok.AccessToken, req.Form.Get("token"))
				assert.Equal(t, testClientID, req.Form.Get("client_id"))
				assert.Equal(t, 401, c.apiStatus(tok.AccessToken), "revoked")
				assert.Zero(t, c.fake.Stats().Refresh)
			})
		}
	})
	t.Run("expired token: refreshed, then revoked", func(t *testing.T) {
		c := newCLI(t)
		c.saveToken(expired(c, c.fake.IssueToken("")))
		r := c.run("revoke")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.NoFileExists(t, c.tokenFile)
		st := c.fake.Stats()
		assert.Equal(t, 1, st.Refresh)
		assert.Equal(t, 1, st.Revoke)
		req, _ := c.fake.LastRequest(fakeuc.RevokePath)
		assert.Equal(t, 401, c.apiStatus(req.Form.Get("token")), "the refreshed token is the one revoked")
	})
	t.Run("grant already revoked, token not expired", func(t *testing.T) {
		c := newCLI(t)
		tok := c.fake.IssueToken("")
		c.saveToken(tok)
		require.NoError(t, ultracart.Revoke(context.Background(), &oauth2.Config{ClientID: testClientID, Endpoint: c.fake.Endpoint()}, tok.AccessToken))
		r := c.run("revoke")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "UltraCart no longer knew the token")
		assert.NoFileExists(t, c.tokenFile)
		assertNoSecrets(t, r.stdout+r.stderr)
	})
	t.Run("grant already revoked, token expired", func(t *testing.T) {
		c := newCLI(t)
		tok := c.fake.IssueToken("")
		c.saveToken(expired(c, tok))
		require.NoError(t, ultracart.Revoke(context.Background(), &oauth2.Config{ClientID: testClientID, Endpoint: c.fake.Endpoint()}, tok.AccessToken))
		r := c.run("revoke")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "The authorization had already expired or been revoked at UltraCart; removed "+c.tokenFile+"\n", r.stdout)
		assert.NoFileExists(t, c.tokenFile)
	})
}

// TestFailures checks the failing runs of token, status and revoke: exit
// status 1, one clear line on stderr, nothing on stdout, never a token.
func TestFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *cli)
		args  []string
		want  func(c *cli) []string
		check func(t *testing.T, c *cli)
	}{
		{
			name: "token: no token file",
			args: []string{"token"},
			want: func(c *cli) []string {
				return []string{"ultracart-token: no token in " + c.tokenFile + "; run `ultracart-token login` first"}
			},
		},
		{
			name: "status: no token file",
			args: []string{"status"},
			want: func(c *cli) []string { return []string{"no token in " + c.tokenFile} },
		},
		{
			name: "revoke: no token file",
			args: []string{"revoke"},
			want: func(c *cli) []string { return []string{"no token in " + c.tokenFile} },
		},
		{
			name:  "token: corrupt token file",
			setup: writeFile("{\"access_token\": \"uc-at-0123"),
			args:  []string{"token"},
			want:  func(c *cli) []string { return []string{c.tokenFile, "corrupt"} },
		},
		{
			name:  "status: corrupt token file",
			setup: writeFile("not json"),
			args:  []string{"status"},
			want:  func(c *cli) []string { return []string{c.tokenFile, "corrupt"} },
		},
		{
			name:  "status: empty token file",
			setup: writeFile(""),
			args:  []string{"status"},
			want:  func(c *cli) []string { return []string{c.tokenFile, "empty"} },
		},
		{
			name: "token: authorization revoked",
			setup: func(c *cli) {
				tok := c.fake.IssueToken("")
				require.NoError(c.t, ultracart.Revoke(context.Background(), &oauth2.Config{ClientID: testClientID, Endpoint: c.fake.Endpoint()}, tok.AccessToken))
				c.saveToken(expired(c, tok))
			},
			args: []string{"token"},
			want: func(c *cli) []string {
				return []string{"the authorization in " + c.tokenFile + " has expired or was revoked", "invalid_grant", "run `ultracart-token login` again"}
			},
			check: func(t *testing.T, c *cli) { assert.FileExists(t, c.tokenFile) },
		},
		{
			name: "token: expired, no refresh token",
			setup: func(c *cli) {
				c.saveToken(&oauth2.Token{AccessToken: "uc-at-0123", Expiry: time.Now().Add(-time.Minute)})
			},
			args: []string{"token"},
			want: func(*cli) []string { return []string{"no refresh token"} },
		},
		{
			name: "token: client refused",
			setup: func(c *cli) {
				c.fake.SetOptions(fakeuc.Options{ClientID: "another-client"})
				c.saveToken(expired(c, c.fake.IssueToken("")))
			},
			args: []string{"token"},
			want: func(*cli) []string { return []string{"invalid_client", "(HTTP 401)"} },
		},
		{
			name: "token: UltraCart unreachable",
			setup: func(c *cli) {
				c.saveToken(expired(c, c.fake.IssueToken("")))
				c.env["ULTRACART_ENDPOINT"] = closedURL(c.t)
			},
			args: []string{"token"},
			want: func(*cli) []string {
				return []string{"ultracart-token: cannot reach UltraCart: ", "connection refused"}
			},
		},
		{
			name: "revoke: UltraCart unreachable",
			setup: func(c *cli) {
				c.saveToken(c.fake.IssueToken(""))
				c.env["ULTRACART_ENDPOINT"] = closedURL(c.t)
			},
			args: []string{"revoke"},
			want: func(c *cli) []string {
				return []string{"ultracart-token: revoke: cannot reach UltraCart: ", "connection refused", "the token file " + c.tokenFile + " was kept"}
			},
			check: func(t *testing.T, c *cli) { assert.FileExists(t, c.tokenFile) },
		},
		{
			name: "revoke: UltraCart fails",
			setup: func(c *cli) {
				c.saveToken(c.fake.IssueToken(""))
				c.fake.Fail(fakeuc.RevokePath, fakeuc.Fault{Status: 503})
			},
			args:  []string{"revoke"},
			want:  func(*cli) []string { return []string{"ultracart-token: revoke: ", "(HTTP 503)", "was kept"} },
			check: func(t *testing.T, c *cli) { assert.FileExists(t, c.tokenFile) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if tt.setup != nil {
				tt.setup(c)
			}
			r := c.run(tt.args...)
			assertFailed(t, r, exitFailure, tt.want(c)...)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// writeFile returns a setup that writes content as the token file.
func writeFile(content string) func(c *cli) {
	return func(c *cli) {
		require.NoError(c.t, os.MkdirAll(filepath.Dir(c.tokenFile), 0o700))
		require.NoError(c.t, os.WriteFile(c.tokenFile, []byte(content), 0o600))
	}
}

func TestTokenFileLocation(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config) // os.UserConfigDir on Linux and the BSDs
	t.Setenv("AppData", config)         // on Windows
	userConfig, err := os.UserConfigDir()
	require.NoError(t, err)
	flagFile := filepath.Join(t.TempDir(), "flag.json")
	envFile := filepath.Join(t.TempDir(), "env.json")

	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{name: "default", want: filepath.Join(userConfig, "ultracart", "token.json")},
		{name: "environment", env: envFile, want: envFile},
		{name: "flag beats environment", env: envFile, args: []string{"--token-file", flagFile}, want: flagFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.env["ULTRACART_TOKEN_FILE"] = tt.env
			r := c.run(append([]string{"status"}, tt.args...)...)
			assertFailed(t, r, exitFailure, "no token in "+tt.want+";")
		})
	}
}

// TestREADMECommandLine: the README's command-line section gives the
// install command that works from a clone, beside the one for the
// published module, and documents every field of status --json.
func TestREADMECommandLine(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## The command-line tool\n")
	require.True(t, ok, "the README has a command-line section")
	section, _, _ = strings.Cut(section, "\n## ")
	assert.Contains(t, section, "\ngo install ./cmd/ultracart-token ")
	assert.Contains(t, section, "\ngo install github.com/ultracart-go/ultracart/cmd/ultracart-token@latest ")
	typ := reflect.TypeFor[statusJSON]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		assert.Contains(t, section, "`"+name+"`", "status --json field")
	}
}

// TestPlainHTTPOnlyForLoopback: issue 21 point 1. Plain http is for this
// machine only, and the endpoint is the /rest/v2 base; anything else is a
// usage error that says why, before any request.
func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	tests := []struct {
		endpoint string
		want     string // "" when accepted
	}{
		{"http://example.com/rest/v2", "plain http is only for this machine"},
		{"http://10.0.0.1:8080/rest/v2", "plain http is only for this machine"},
		{"http://127.0.0.1.example.com/rest/v2", "plain http is only for this machine"},
		{"https://secure.ultracart.com", "must end in /rest/v2"},
		{"https://secure.ultracart.com/rest/v2/oauth/token", "must end in /rest/v2"},
		{"ftp://secure.ultracart.com/rest/v2", "must be an https URL"},
		{"secure.ultracart.com/rest/v2", "must be an https URL"},
		{"https://secure.ultracart.com/rest/v2", ""},
		{"https://sandbox.example/rest/v2/", ""},
		{"http://127.0.0.1:8080/rest/v2", ""},
		{"http://127.200.3.4/rest/v2", ""},
		{"http://[::1]:8080/rest/v2", ""},
		{"http://localhost:8080/rest/v2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			c := newCLI(t)
			for _, args := range [][]string{{"token"}, {"login", "--device", "--scopes", "item_read"}, {"revoke"}} {
				o, err := parseFlags(lookup(args[0]), append(args[1:], "--endpoint", tt.endpoint), c.getenv)
				if tt.want == "" {
					require.NoError(t, err)
					assert.Equal(t, tt.endpoint, o.endpointURL())
					continue
				}
				require.Error(t, err)
				r := c.run(append(args, "--endpoint", tt.endpoint)...)
				assertUsage(t, r, "ultracart-token: "+args[0]+": --endpoint "+tt.endpoint+": ", tt.want, defaultEndpoint)
				assert.Zero(t, c.fake.Stats(), "no request")
			}
		})
	}
}

// TestDeviceLoginNeedsScopes: issue 16 point 6. The device flow asks for a
// scope: login --device without one is a usage error that asks for
// --scopes, and nothing is sent.
func TestDeviceLoginNeedsScopes(t *testing.T) {
	c := newCLI(t)
	r := c.run("login", "--device")
	assertUsage(t, r, "ultracart-token: login: --device needs --scopes (or ULTRACART_SCOPES)", "such as --scopes item_read")
	assert.Zero(t, c.fake.Stats(), "no request")

	c.env["ULTRACART_SCOPES"] = "order_read"
	c.inBubble(func(c *cli) {
		r := c.run("login", "--device")
		assert.Equal(t, exitOK, r.code, r.stderr)
	})
	req, ok := c.fake.LastRequest(fakeuc.DeviceAuthPath)
	require.True(t, ok)
	assert.Equal(t, "order_read", req.Form.Get("scope"))
}

// TestGlobalFlagsBeforeCommand: issue 21 point 4. Flags may come before the
// command, -v is --version, and an unknown flag is named as it was typed.
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	c := newCLI(t)
	tok := c.fake.IssueToken("")
	c.saveToken(tok)
	delete(c.env, "ULTRACART_TOKEN_FILE")
	for _, args := range [][]string{
		{"--token-file", c.tokenFile, "token"},
		{"--token-file=" + c.tokenFile, "token"},
		{"-token-file", c.tokenFile, "--client-id", "x", "token"},
		{"--token-file", c.tokenFile, "token", "--client-id", "x"},
	} {
		r := c.run(args...)
		assert.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		assert.Equal(t, tok.AccessToken+"\n", r.stdout, "%v", args)
	}
	r := c.run("--token-file", c.tokenFile, "status")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "token file: "+c.tokenFile+"\n")

	for _, args := range [][]string{{"-v"}, {"--version"}} {
		r := c.run(args...)
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.True(t, strings.HasPrefix(r.stdout, "ultracart-token "), r.stdout)
		assert.Empty(t, r.stderr)
	}

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"status", "-x"}, "ultracart-token: status: flag provided but not defined: -x\n"},
		{[]string{"status", "--x"}, "ultracart-token: status: flag provided but not defined: --x\n"},
		{[]string{"status", "--x=1"}, "ultracart-token: status: flag provided but not defined: --x\n"},
		{[]string{"-x", "status"}, "ultracart-token: flag provided but not defined: -x\n"},
		{[]string{"--bogus", "value", "status"}, "ultracart-token: flag provided but not defined: --bogus\n"},
		{[]string{"--client-secret", "s3cr3t", "token"}, "ultracart-token: --client-secret is not accepted"},
		{[]string{"--json", "token"}, "ultracart-token: token: flag provided but not defined: --json\n"},
		{[]string{"token", "-timeout", "1s"}, "ultracart-token: token: flag provided but not defined: -timeout\n"},
		{[]string{"--token-file"}, "ultracart-token: flag needs an argument: --token-file\n"},
	}
	for _, tt := range tests {
		r := c.run(tt.args...)
		assert.Equal(t, exitUsage, r.code, "%v", tt.args)
		assert.True(t, strings.HasPrefix(r.stderr, tt.want), "%v: %s", tt.args, r.stderr)
		assert.NotContains(t, r.stderr, "s3cr3t")
	}
}

// TestMissingCommand: issue 21 point 7. A bare ultracart-token says what is
// missing, then a short usage: the commands, and where the rest is.
func TestMissingCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"--merchant", "acme"}} {
		c := newCLI(t)
		r := c.run(args...)
		assert.Equal(t, exitUsage, r.code)
		assert.Empty(t, r.stdout)
		assert.True(t, strings.HasPrefix(r.stderr, "ultracart-token: missing command\n"), r.stderr)
		for _, cmd := range commands {
			assert.Contains(t, r.stderr, "\n  "+cmd.name)
		}
		assert.Contains(t, r.stderr, "Run 'ultracart-token --help'")
		assert.NotContains(t, r.stderr, "--client-secret-file", "the flags are in --help")
		assert.Less(t, strings.Count(r.stderr, "\n"), 20)
	}
}

// TestClientIDAndEndpointStayTogether: issue 21 point 3. The client id and
// the endpoint login remembered are used together: overriding one without
// the other is refused, by token and status alike, before any request.
func TestClientIDAndEndpointStayTogether(t *testing.T) {
	remembered := func(c *cli, endpoint string) {
		require.NoError(t, saveClientFile(clientFile(c.tokenFile), clientSettings{ClientID: "app-1", Endpoint: endpoint}))
		c.saveToken(expired(c, c.fake.IssueToken("")))
		delete(c.env, "ULTRACART_CLIENT_ID")
		delete(c.env, "ULTRACART_ENDPOINT")
	}
	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct {
			env  map[string]string
			args []string
			want string
		}{
			{env: map[string]string{"ULTRACART_CLIENT_ID": "other-app"}, want: `client id "other-app" without its endpoint`},
			{args: []string{"--client-id", "other-app"}, want: `client id "other-app" without its endpoint`},
			{args: []string{"--endpoint", "https://sandbox.example/rest/v2"}, want: `endpoint https://sandbox.example/rest/v2 without its client id`},
			{env: map[string]string{"ULTRACART_ENDPOINT": "https://sandbox.example/rest/v2"}, want: `endpoint https://sandbox.example/rest/v2 without its client id`},
		} {
			c := newCLI(t)
			remembered(c, c.fake.URL+"/rest/v2")
			maps.Copy(c.env, tt.env)
			for _, cmd := range [][]string{{"token", "--refresh"}, {"status"}, {"revoke"}} {
				r := c.run(append(cmd, tt.args...)...)
				assertUsage(t, r, tt.want, `login remembered client id "app-1" with endpoint `+c.fake.URL+"/rest/v2",
					"pass --client-id and --endpoint together")
			}
			assert.Zero(t, c.fake.Stats(), "no request")
		}
	})
	t.Run("accepted", func(t *testing.T) {
		for _, tt := range []struct {
			name             string
			endpoint         string // remembered
			args             []string
			wantID, wantBase string // "" for the fake's
		}{
			{name: "nothing given", wantID: "app-1"},
			{name: "the same client id", args: []string{"--client-id", "app-1"}, wantID: "app-1"},
			{name: "both given", args: []string{"--client-id", "other-app", "--endpoint", "https://sandbox.example/rest/v2"},
				wantID: "other-app", wantBase: "https://sandbox.example/rest/v2"},
			{name: "another client id, UltraCart's endpoint remembered", endpoint: "-", args: []string{"--client-id", "other-app"},
				wantID: "other-app", wantBase: defaultEndpoint},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := newCLI(t)
				endpoint := c.fake.URL + "/rest/v2"
				if tt.endpoint == "-" {
					endpoint = ""
				}
				remembered(c, endpoint)
				if tt.wantBase == "" {
					tt.wantBase = c.fake.URL + "/rest/v2"
				}
				for _, cmd := range []string{"token", "status", "revoke"} {
					o, err := parseFlags(lookup(cmd), tt.args, c.getenv)
					require.NoError(t, err)
					assert.Equal(t, tt.wantID, o.clientID)
					assert.Equal(t, tt.wantBase, o.endpointURL())
				}
				r := c.run(append([]string{"status"}, tt.args...)...)
				assert.Contains(t, r.stdout, "client id:  "+tt.wantID+"\nendpoint:   "+tt.wantBase+"\n", "status shows what token uses")
			})
		}
	})
}

// TestHintsKeepTheProfile: issue 21 point 6. A hint repeats the flags that
// select the profile, and token and status give the same one.
func TestHintsKeepTheProfile(t *testing.T) {
	c := newCLI(t)
	other := filepath.Join(t.TempDir(), "other.json")
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		file  string
		login string
	}{
		{name: "merchant", args: []string{"--merchant", "nope"}, login: "ultracart-token login --merchant nope"},
		{name: "merchant, no client id", env: map[string]string{"ULTRACART_CLIENT_ID": ""}, args: []string{"--merchant", "nope"},
			login: "ultracart-token login --merchant nope --client-id ID"},
		{name: "token file", args: []string{"--token-file", other}, file: other, login: "ultracart-token login --token-file " + other},
		{name: "token file with a space", args: []string{"--token-file", other + " x"}, file: other + " x", login: "ultracart-token login --token-file '" + other + " x'"},
		{name: "default profile", login: "ultracart-token login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			maps.Copy(c.env, tt.env)
			var lines []string
			for _, cmd := range []string{"token", "status"} {
				r := c.run(append([]string{cmd}, tt.args...)...)
				assert.Equal(t, exitFailure, r.code, r.stderr)
				assert.Contains(t, r.stderr, "; run `"+tt.login+"` first")
				lines = append(lines, r.stderr)
			}
			assert.Equal(t, lines[0], lines[1], "token and status give the same hint")
		})
	}
	t.Run("invalid grant", func(t *testing.T) {
		c := c.with(t)
		tok := c.fake.IssueToken("")
		require.NoError(t, ultracart.Revoke(context.Background(), &oauth2.Config{ClientID: testClientID, Endpoint: c.fake.Endpoint()}, tok.AccessToken))
		c.saveToken(expired(c, tok))
		path := c.tokenFile
		delete(c.env, "ULTRACART_TOKEN_FILE")
		r := c.run("token", "--token-file", path)
		assert.Contains(t, r.stderr, "run `ultracart-token login --token-file "+path+"` again")
	})
}

// with returns a copy of c for a subtest t, with an environment of its own.
func (c *cli) with(t *testing.T) *cli {
	d := *c
	d.t = t
	d.env = maps.Clone(c.env)
	return &d
}

// TestTokenFileReadableByOthers: issue 21 point 2. A token file others can
// read is named on stderr with the fix, and the command's writes leave it
// readable by the user alone.
func TestTokenFileReadableByOthers(t *testing.T) {
	c := newCLI(t)
	tok := c.fake.IssueToken("")
	c.saveToken(tok)
	require.NoError(t, os.Chmod(c.tokenFile, 0o644))
	want := "ultracart-token: warning: others can read the token file " + c.tokenFile + " (mode 0644); run: chmod 600 " + c.tokenFile + "\n"
	unix := runtime.GOOS != "windows" // which has no permission bits for others
	if !unix {
		want = ""
	}
	for _, cmd := range []string{"token", "status"} {
		r := c.run(cmd)
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, want, r.stderr, cmd)
	}
	r := c.run("status", "--json")
	assert.Equal(t, want, r.stderr)

	// A refresh writes the file: readable by the user alone.
	c.saveToken(expired(c, tok))
	require.NoError(t, os.Chmod(c.tokenFile, 0o640))
	r = c.run("token")
	assert.Equal(t, exitOK, r.code, r.stderr)
	fi, err := os.Stat(c.tokenFile)
	require.NoError(t, err)
	if unix {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	r = c.run("token")
	assert.Empty(t, r.stderr)
}
