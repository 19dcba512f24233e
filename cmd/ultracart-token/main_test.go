package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
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
	assert.NotContains(t, r.stdout, "--client-id", "status needs no client")
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
		{name: "flag of another command", args: []string{"status", "--client-id", "x"}, want: "flag provided but not defined: --client-id\n"},
		{name: "extra argument", args: []string{"token", "extra"}, want: `ultracart-token: token: unexpected argument "extra"`},
		{name: "no client id for login", args: []string{"login"}, unset: "ULTRACART_CLIENT_ID", want: "ultracart-token: login: no client id: pass --client-id or set ULTRACART_CLIENT_ID (login remembers it)\n"},
		{name: "bad endpoint", args: []string{"token", "--endpoint", "127.0.0.1:1/rest/v2"}, want: "--endpoint must be an http or https URL"},
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
		assert.True(t, strings.HasPrefix(access, ultracarttest.AccessTokenPrefix))
		assert.Equal(t, access+"\n", r.stdout, "only the token on stdout")
		assert.Equal(t, 1, c.fake.Stats().Refresh)
		assert.Equal(t, 200, c.apiStatus(access))

		saved := c.loadToken()
		assert.Equal(t, access, saved.AccessToken)
		assert.NotEqual(t, old.RefreshToken, saved.RefreshToken, "rotated")
		assert.True(t, saved.Expiry.After(time.Now().Add(59*time.Minute)))

		req, ok := c.fake.LastRequest(ultracarttest.TokenPath)
		require.True(t, ok)
		assert.Equal(t, "POST", req.Method)
		assert.Equal(t, ultracarttest.GrantRefreshToken, req.Form.Get("grant_type"))
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
		req, ok := c.fake.LastRequest(ultracarttest.TokenPath)
		require.True(t, ok)
		assert.Equal(t, ultracarttest.GrantRefreshToken, req.Form.Get("grant_type"))
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
			want := fmt.Sprintf("token file: %s\nclient id:  not remembered: pass --client-id to token and revoke\nendpoint:   not remembered\n"+
				"expires:    %s\nscope:      %s\nrefresh:    %s\n",
				c.tokenFile, tt.expires(c.loadToken()), tt.scope, tt.refresh)
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

				req, ok := c.fake.LastRequest(ultracarttest.RevokePath)
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
		req, _ := c.fake.LastRequest(ultracarttest.RevokePath)
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
				c.fake.SetOptions(ultracarttest.Options{ClientID: "another-client"})
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
				c.fake.Fail(ultracarttest.RevokePath, ultracarttest.Fault{Status: 503})
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
