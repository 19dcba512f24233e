package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

const lockWaitLine = "Waiting for another process to release "

// TestBinaryLockHeld: point 2. This test process holds the token file's
// lock, as another ultracart-token or an application would, while the
// binary's revoke and login run: they wait for it, say so, and touch
// nothing until it is released.
func TestBinaryLockHeld(t *testing.T) {
	t.Parallel()
	t.Run("revoke", func(t *testing.T) {
		t.Parallel()
		u := newUserCLI(t)
		u.login(nil, "", "--client-id", "app-1", "--endpoint", u.endpoint())
		path := u.tokenFile("")
		tok := load(t, path)
		unlock, err := ultracart.NewFileStore(path).Lock(context.Background())
		require.NoError(t, err)
		defer unlock()

		s := u.start(nil, "revoke")
		assert.Equal(t, path+".lock (Ctrl-C to cancel)...", s.stderr.waitLine(t, lockWaitLine))
		assert.FileExists(t, path, "nothing removed while another process holds the lock")
		assert.Zero(t, u.fake.Stats().Revoke)

		unlock()
		r := s.wait(t)
		assertOK(t, r)
		assert.Equal(t, "Revoked at UltraCart; removed "+path+"\n", r.stdout)
		assert.NoFileExists(t, path)
		assert.FileExists(t, path+".lock", "the lock file stays: its holders keep their lock")
		assert.Equal(t, 401, statusWith(t, u.fake, tok.AccessToken))

		// The lock still works across processes after revoke.
		unlock, err = ultracart.NewFileStore(path).Lock(context.Background())
		require.NoError(t, err)
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = ultracart.NewFileStore(path).Lock(short)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "a second holder must wait")
		unlock()
	})
	t.Run("login", func(t *testing.T) {
		t.Parallel()
		u := newUserCLI(t)
		path := u.tokenFile("")
		unlock, err := ultracart.NewFileStore(path).Lock(context.Background())
		require.NoError(t, err)
		defer unlock()

		s := u.start(nil, "login", "--device", "--scopes", "item_read", "--client-id", "app-1", "--endpoint", u.endpoint())
		assert.Equal(t, path+".lock (Ctrl-C to cancel)...", s.stderr.waitLine(t, lockWaitLine))
		assert.Equal(t, 1, u.fake.Stats().Exchange+u.fake.Stats().DeviceToken, "approved, and waiting to save")
		assert.NoFileExists(t, path, "nothing saved while another process holds the lock")
		assert.NoFileExists(t, clientFile(path))

		unlock()
		r := s.wait(t)
		assertOK(t, r)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "Authorized. Token saved to "+path)
		assert.Equal(t, 200, statusWith(t, u.fake, load(t, path).AccessToken))
	})
}

// TestBinaryLoginUnwritable: point 3. A token file that cannot be written
// fails the login before anything is asked of UltraCart or the merchant.
func TestBinaryLoginUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o600))
	tests := []struct {
		name, tokenFile string
		want            []string
	}{
		{"parent is a file", filepath.Join(notDir, "token.json"), []string{"cannot write the token file " + filepath.Join(notDir, "token.json"), "not a directory", "pass another --token-file"}},
		{"token file is a directory", dir, []string{"cannot write the token file " + dir + ": it is a directory"}},
	}
	for _, tt := range tests {
		for _, flow := range [][]string{{"--device", "--scopes", "item_read"}, {"--no-browser"}} {
			t.Run(tt.name+" "+flow[0], func(t *testing.T) {
				u := newUserCLI(t)
				r := u.run(nil, "", append([]string{"login", "--client-id", "app-1", "--endpoint", u.endpoint(), "--token-file", tt.tokenFile}, flow...)...)
				assertFailed(t, r, exitFailure, append([]string{"ultracart-token: login: "}, tt.want...)...)
				assert.NotContains(t, r.stderr, "Waiting")
				assert.NotContains(t, r.stderr, "Visit")
				assert.NotContains(t, r.stderr, "Open this URL")
				assert.Zero(t, u.fake.Stats(), "no request before the check")
			})
		}
	}
}

// TestBinaryClientSecret: point 4. The secret is never a flag, comes from
// the environment, a file or stdin, and never reaches an output or a file
// other than the one it was read from.
func TestBinaryClientSecret(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-client-secret-9d2f"
	u := newUserCLI(t)
	u.fake.SetOptions(fakeuc.Options{ClientSecret: secret})
	login := []string{"login", "--client-id", "app-1", "--endpoint", u.endpoint()}

	for _, args := range [][]string{{"--client-secret", secret}, {"--client-secret=" + secret}, {"-client-secret", secret}} {
		r := u.run(nil, "", append(login, args...)...)
		assertUsage(t, r, "--client-secret is not accepted: a secret on the command line shows in ps and in the shell history",
			"ULTRACART_CLIENT_SECRET", "--client-secret-file")
		assert.NotContains(t, r.stderr, secret)
	}
	assert.Zero(t, u.fake.Stats())

	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret+"\n"), 0o600))
	expire := func() {
		u.fake.ExpireAccessTokens()
		tok := *load(t, u.tokenFile(""))
		tok.Expiry = time.Now().Add(-time.Minute)
		require.NoError(t, ultracart.NewFileStore(u.tokenFile("")).Save(context.Background(), &tok))
	}
	lastSecret := func() string {
		req, ok := u.fake.LastRequest(fakeuc.TokenPath)
		require.True(t, ok)
		return req.Form.Get("client_secret")
	}
	tests := []struct {
		name  string
		env   []string
		stdin string
		args  []string
	}{
		{name: "stdin", stdin: secret + "\n", args: []string{"--client-secret-file", "-"}},
		{name: "file", args: []string{"--client-secret-file", secretFile}},
		{name: "file from the environment", env: []string{"ULTRACART_CLIENT_SECRET_FILE=" + secretFile}},
		{name: "environment", env: []string{"ULTRACART_CLIENT_SECRET=" + secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := u.with(t)
			r := u.login(tt.env, tt.stdin, append(login[1:], tt.args...)...)
			assert.NotContains(t, r.stdout+r.stderr, secret)
			assert.Equal(t, secret, lastSecret())

			expire()
			r = u.run(tt.env, tt.stdin, append([]string{"token"}, tt.args...)...)
			assertOK(t, r)
			assert.NotContains(t, r.stdout+r.stderr, secret)
			assert.Equal(t, secret, lastSecret(), "the refresh sends it")
		})
	}

	// Never saved: a refresh without it fails, and says what to check.
	entries, err := os.ReadDir(u.config)
	require.NoError(t, err)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(u.config, e.Name())); err == nil {
			assert.NotContains(t, string(b), secret, e.Name())
		}
	}
	expire()
	r := u.run(nil, "", "token")
	assertFailed(t, r, exitFailure, "invalid_client", `UltraCart does not know client id "app-1" or its secret`,
		"check --client-id (or ULTRACART_CLIENT_ID) and the secret (ULTRACART_CLIENT_SECRET or --client-secret-file)")
	r = u.run(nil, "", "token", "--client-secret-file", filepath.Join(t.TempDir(), "missing"))
	assertUsage(t, r, "--client-secret-file: open ")
	r = u.run(nil, "", "token", "--client-secret-file", "-")
	assertUsage(t, r, "--client-secret-file: the file is empty")

	r = u.run(nil, "", "login", "--help")
	assert.Contains(t, r.stdout, "never a flag, since\n        flags show in ps and in the shell history")
}

// TestBinaryErrorsPointAtFix: point 5.
func TestBinaryErrorsPointAtFix(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	t.Run("wrong endpoint", func(t *testing.T) {
		u := u.with(t)
		wrong := u.fake.URL + "/wrong/rest/v2"
		r := u.run(nil, "", "login", "--device", "--scopes", "item_read", "--client-id", "app-1", "--endpoint", wrong)
		assertFailed(t, r, exitFailure, "ultracart-token: login: starting the device flow: ", "(HTTP 404)",
			"nothing answers at "+wrong+"/oauth/device/authorize: check --endpoint (or ULTRACART_ENDPOINT), UltraCart's is https://secure.ultracart.com/rest/v2")
		r = u.run(nil, "", "login", "--no-browser", "--client-id", "app-1", "--endpoint", wrong)
		assertFailed(t, r, exitFailure, "UltraCart refused the authorize link "+wrong+"/oauth/authorize", "(HTTP 404)", "check --endpoint")
	})
	t.Run("unknown client", func(t *testing.T) {
		u := u.with(t)
		u.fake.SetOptions(fakeuc.Options{ClientID: "the-real-app"})
		defer u.fake.SetOptions(fakeuc.Options{})
		r := u.run(nil, "", "login", "--device", "--scopes", "item_read", "--client-id", "typo-app", "--endpoint", u.endpoint())
		assertFailed(t, r, exitFailure, "invalid_client", "(HTTP 401)", `UltraCart does not know client id "typo-app"`, "check --client-id")

		// The browser flow fails at once, not after --timeout.
		start := time.Now()
		r = u.run(nil, "", "login", "--no-browser", "--timeout", "10m", "--client-id", "typo-app", "--endpoint", u.endpoint())
		assertFailed(t, r, exitFailure, `ultracart-token: login: UltraCart refused the authorize link `+u.endpoint()+`/oauth/authorize for client id "typo-app"`,
			"Unknown client_id", "check --client-id and --endpoint")
		assert.NotContains(t, r.stderr, "Waiting for the redirect")
		assert.Less(t, time.Since(start), time.Minute)
	})
	t.Run("corrupt token file", func(t *testing.T) {
		u := u.with(t)
		path := u.tokenFile("")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, []byte(`{"access_token": "uc-at-0123`), 0o600))
		for _, args := range [][]string{{"token", "--client-id", "app-1"}, {"status"}, {"revoke", "--client-id", "app-1"}} {
			r := u.run(nil, "", args...)
			assertFailed(t, r, exitFailure, "the token file "+path+" is corrupt", "; run `ultracart-token login", "` again to replace it, or remove it")
			assert.NotContains(t, r.stderr, "ultracart: ", "one prefix")
		}
	})
	t.Run("flags written --flag", func(t *testing.T) {
		u := u.with(t)
		r := u.run(nil, "", "login", "--timeout", "5")
		assertUsage(t, r, `ultracart-token: login: invalid value "5" for flag --timeout: `, "(a duration such as 90s or 5m)")
		r = u.run(nil, "", "token", "-bogus")
		assertUsage(t, r, "flag provided but not defined: -bogus")
		r = u.run(nil, "", "token", "--client-id")
		assertUsage(t, r, "flag needs an argument: --client-id")
		r = u.run(nil, "", "login", "--device=maybe")
		assertUsage(t, r, `invalid boolean value "maybe" for --device`)
	})
}

// TestBinaryVersion: point 6.
func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	want := regexp.MustCompile(`^ultracart-token (\(devel\)|v\S+) \((commit [0-9a-f]{12}, )?(modified, )?` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	var outputs []string
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		r := u.run(nil, "", args...)
		assertOK(t, r)
		assert.Empty(t, r.stderr)
		assert.Regexp(t, want, r.stdout)
		outputs = append(outputs, r.stdout)
	}
	assert.Equal(t, outputs[0], outputs[1])
}

// TestBinaryCompletion: point 6. The bash script completes commands and
// flags when bash runs it; the zsh script loads the same through zsh's bash
// completion layer.
func TestBinaryCompletion(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	r := u.run(nil, "", "completion", "bash")
	assertOK(t, r)
	script := r.stdout
	r = u.run(nil, "", "completion", "zsh")
	assertOK(t, r)
	assert.True(t, strings.HasPrefix(r.stdout, "#compdef ultracart-token\nautoload -U +X bashcompinit && bashcompinit\n"))
	assert.True(t, strings.HasSuffix(r.stdout, script))
	assertUsage(t, u.run(nil, "", "completion", "fish"), `completion: unknown shell "fish": bash or zsh`)
	assertUsage(t, u.run(nil, "", "completion"), "completion: name the shell")

	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "bash runs the completion script")
	scriptFile := filepath.Join(t.TempDir(), "completion.bash")
	require.NoError(t, os.WriteFile(scriptFile, []byte(script), 0o600))
	tests := []struct {
		line string // the words before the cursor; the last is completed
		want string
	}{
		{"ultracart-token st", "status"},
		{"ultracart-token lo", "login logout"},
		{"ultracart-token ", "login token status revoke logout demo version completion help --help --version"},
		{"ultracart-token status --", "--help --client-id --json --merchant --token-file --endpoint"},
		{"ultracart-token login --tok", "--token-file"},
		{"ultracart-token token --client-secret", "--client-secret-file"},
		{"ultracart-token completion ", "--help bash zsh"},
		{"ultracart-token help re", "revoke"},
		{"ultracart-token token --merchant ", "acme beta"},
		{"ultracart-token --merchant a", "acme"},
	}
	// issue 21 point 7: --merchant completes the profiles.
	for _, m := range []string{"acme", "beta", "bad.name", "acme.client"} {
		require.NoError(t, os.MkdirAll(filepath.Join(u.config, "merchants"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(u.config, "merchants", m+".json"), []byte("{}"), 0o600))
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `source "$1"; read -ra COMP_WORDS <<<"$2"; `+
				`[[ $2 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ultracart_token; echo "${COMPREPLY[*]}"`,
				"bash", scriptFile, tt.line)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, tt.want+"\n", string(out))
		})
	}
}

// TestBinaryHelpListsOptions: point 7. The top-level help lists every flag
// and environment variable of the option table.
func TestBinaryHelpListsOptions(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	r := u.run(nil, "", "--help")
	assertOK(t, r)
	for _, f := range optionTable {
		if f.name != "" {
			assert.Contains(t, r.stdout, "\n  --"+f.name)
		}
		if f.envVar != "" {
			assert.Contains(t, r.stdout, "$"+f.envVar)
		}
	}
	assert.Contains(t, r.stdout, "130 when interrupted")
}

// TestBinaryStrayCallback: point 8. Requests to the callback without this
// login's state get a 400 page and leave the login waiting; the redirect
// with the right state ends it.
func TestBinaryStrayCallback(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	s := u.start(nil, "login", "--no-browser", "--client-id", "app-1", "--endpoint", u.endpoint())
	authURL, err := url.Parse(s.stderr.waitLine(t, authorizeLine))
	require.NoError(t, err)
	s.stderr.waitLine(t, waitingLine)
	redirect := authURL.Query().Get("redirect_uri")

	for _, query := range []string{
		"state=forged&code=forged",
		"code=forged",
		"error=access_denied",
		"state=forged&error=access_denied",
		"state=" + authURL.Query().Get("state") + "x&code=forged",
	} {
		status, body := browse(t, redirect+"?"+query)
		assert.Equal(t, http.StatusBadRequest, status, query)
		assert.Contains(t, body, "does not belong to the login in progress", query)
		assert.Contains(t, body, "the login keeps waiting", query)
	}
	select {
	case <-s.done:
		require.FailNow(t, "a stray callback ended the login", s.stderr.String())
	default:
	}
	assert.Zero(t, u.fake.Stats().Exchange, "no exchange for a stray code")

	status, body := browse(t, authURL.String())
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Authorized. You can close this window.")
	r := s.wait(t)
	assertOK(t, r)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "Authorized. Token saved to "+u.tokenFile(""))
	assert.Equal(t, 1, u.fake.Stats().Exchange)
	assertCallbackClosed(t, redirect)
}

// TestOptionTable: each option of the table is a flag of every command of
// its group and, when it has one, read from its environment variable, with
// the flag first.
func TestOptionTable(t *testing.T) {
	for _, f := range optionTable {
		for _, cmd := range commands {
			if cmd.flags&f.group == 0 {
				continue
			}
			t.Run(cmd.name+" "+f.name+f.envVar, func(t *testing.T) {
				env := map[string]string{"ULTRACART_CLIENT_ID": "id", "ULTRACART_TOKEN_FILE": filepath.Join(t.TempDir(), "t.json"), "ULTRACART_SCOPES": "item_read"}
				value := func(o *options) any {
					switch p := f.field(o).(type) {
					case *string:
						return *p
					case *bool:
						return *p
					case *time.Duration:
						return *p
					}
					return nil
				}
				var arg string
				var want any
				switch f.field(&options{}).(type) {
				case *string:
					arg, want = "http://127.0.0.1:1/rest/v2", "http://127.0.0.1:1/rest/v2"
					if f.name == "merchant" {
						arg, want = "m1", "m1"
					}
				case *bool:
					want = true
				case *time.Duration:
					arg, want = "90s", 90*time.Second
				}
				if f.name != "" {
					args := []string{"--" + f.name}
					if arg != "" {
						args = append(args, arg)
					}
					if f.name == "client-secret-file" || f.name == "token-file" {
						args[1] = filepath.Join(t.TempDir(), "f")
						want = args[1]
					}
					o, err := parseFlags(cmd, args, func(k string) string { return env[k] })
					require.NoError(t, err)
					assert.Equal(t, want, value(o), "the flag")
				}
				if f.envVar != "" && f.envVar != "ULTRACART_CLIENT_ID" && f.envVar != "ULTRACART_TOKEN_FILE" {
					env[f.envVar] = "m2"
					if f.envVar == "ULTRACART_MERCHANT" {
						delete(env, "ULTRACART_TOKEN_FILE") // which beats it
					}
					o, err := parseFlags(cmd, nil, func(k string) string { return env[k] })
					if f.envVar == "ULTRACART_ENDPOINT" {
						require.Error(t, err, "m2 is no URL")
						return
					}
					require.NoError(t, err)
					assert.Equal(t, "m2", value(o), "the environment")
				}
			})
		}
	}
}
