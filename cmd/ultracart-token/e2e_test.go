package main

// End-to-end tests: the built binary against internal/fakeuc (the fake
// behind ultracarttest, with the knobs ultracarttest leaves out), as a user
// runs it. Each checks the exit status, what goes to stdout and to stderr, and
// that no secret reaches either.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// userCLI runs the built binary with an environment of its own: no
// ULTRACART_ variables, CI set (no browser), a config directory of its own.
type userCLI struct {
	t      *testing.T
	bin    string
	fake   *fakeuc.Server
	config string // the ultracart directory in the user's config directory
	env    []string
}

func newUserCLI(t *testing.T) *userCLI {
	t.Helper()
	fake := fakeuc.NewServer()
	t.Cleanup(fake.Close)
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ULTRACART_") && !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	env = append(env, "CI=true", "XDG_CONFIG_HOME="+home, "AppData="+home, "HOME="+home)
	config, err := func() (string, error) {
		// The binary's os.UserConfigDir under that environment.
		switch runtime.GOOS {
		case "darwin", "ios":
			return filepath.Join(home, "Library", "Application Support"), nil
		}
		return home, nil
	}()
	require.NoError(t, err)
	return &userCLI{t: t, bin: binary(t), fake: fake, config: filepath.Join(config, "ultracart"), env: env}
}

// with returns u for a subtest t: its failures stop t, not the parent.
func (u *userCLI) with(t *testing.T) *userCLI {
	c := *u
	c.t = t
	return &c
}

// endpoint is the fake's REST API base URL.
func (u *userCLI) endpoint() string { return u.fake.URL + "/rest/v2" }

// tokenFile is the token file of a merchant profile ("" for the default).
func (u *userCLI) tokenFile(merchant string) string {
	if merchant == "" {
		return filepath.Join(u.config, "token.json")
	}
	return filepath.Join(u.config, "merchants", merchant+".json")
}

// command returns the binary's command line, with extra environment.
func (u *userCLI) command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(u.bin, args...)
	cmd.Env = append(append([]string(nil), u.env...), env...)
	return cmd
}

// run runs the binary to completion with stdin.
func (u *userCLI) run(env []string, stdin string, args ...string) result {
	u.t.Helper()
	cmd := u.command(env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := runWithin(u.t, cmd, 20*time.Second)
	return result{code: exitCode(u.t, err), stdout: stdout.String(), stderr: stderr.String()}
}

// runWithin runs cmd, killing it after d.
func runWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		require.FailNow(t, "the command did not finish", "%v", cmd.Args)
		return nil
	}
}

// started is a run of the binary in progress.
type started struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer // read only after wait
	stderr *lineBuffer
	done   chan error
}

// start starts the binary; the test stops it if it is still running.
func (u *userCLI) start(env []string, args ...string) *started {
	u.t.Helper()
	return u.startWith(env, "", args...)
}

// startWith starts the binary with stdin.
func (u *userCLI) startWith(env []string, stdin string, args ...string) *started {
	u.t.Helper()
	s := &started{cmd: u.command(env, args...), stderr: newLineBuffer(), done: make(chan error, 1)}
	s.cmd.Stdin = strings.NewReader(stdin)
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, s.stderr
	require.NoError(u.t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	u.t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
		}
	})
	return s
}

func (s *started) wait(t *testing.T) result {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return result{code: exitCode(t, err), stdout: s.stdout.String(), stderr: s.stderr.String()}
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the command did not finish", "stderr so far:\n%s", s.stderr.String())
		return result{}
	}
}

// assertOK checks a successful run: status 0, no secret anywhere.
func assertOK(t *testing.T, r result) {
	t.Helper()
	assert.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assertNoSecrets(t, r.stderr)
}

// assertUsage checks a usage error: status 2, nothing on stdout, a first
// line on stderr that starts with "ultracart-token: " and contains each of
// want, then the pointer to the help, and no secret.
func assertUsage(t *testing.T, r result, want ...string) {
	t.Helper()
	assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, r.stdout)
	first, rest, _ := strings.Cut(r.stderr, "\n")
	assert.True(t, strings.HasPrefix(first, "ultracart-token: "), "first line %q", first)
	for _, w := range want {
		assert.Contains(t, first, w)
	}
	assert.Regexp(t, `^(Run 'ultracart-token [a-z]+ --help' for usage\.\n)?$`, rest)
	assertNoSecrets(t, r.stderr)
}

// login logs in with the browser flow (device with --device): a stand-in
// browser opens the authorize link, which the fake approves, and follows
// its redirect to the callback. The fake approves the device flow at once.
func (u *userCLI) login(env []string, stdin string, args ...string) result {
	u.t.Helper()
	var r result
	if slices.Contains(args, "--device") {
		r = u.run(env, stdin, append([]string{"login"}, args...)...)
	} else {
		s := u.startWith(env, stdin, append([]string{"login", "--no-browser"}, args...)...)
		status, body := browse(u.t, s.stderr.waitLine(u.t, authorizeLine))
		require.Equal(u.t, http.StatusOK, status, body)
		r = s.wait(u.t)
	}
	assertOK(u.t, r)
	assert.Empty(u.t, r.stdout, "login keeps stdout clean")
	assertNoSecrets(u.t, r.stdout)
	return r
}

// load reads a token file.
func load(t *testing.T, path string) *oauth2.Token {
	t.Helper()
	tok, err := ultracart.NewFileStore(path).Load(context.Background())
	require.NoError(t, err)
	return tok
}

// statusJSON runs status --json and decodes it.
func (u *userCLI) statusJSON(args ...string) (result, map[string]any) {
	u.t.Helper()
	r := u.run(nil, "", append([]string{"status", "--json"}, args...)...)
	assertNoSecrets(u.t, r.stdout+r.stderr)
	var v map[string]any
	require.NoError(u.t, json.Unmarshal([]byte(r.stdout), &v), "stdout: %s", r.stdout)
	return r, v
}

// TestBinaryLoginRemembersClient: point 1 and the profile part of point 6.
// Login once; token, status and revoke then need no client id or endpoint.
func TestBinaryLoginRemembersClient(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	r := u.login(nil, "", "--client-id", "app-1", "--endpoint", u.endpoint())
	assert.Contains(t, r.stderr, "Authorized. Token saved to "+u.tokenFile("")+" (")
	saved := load(t, u.tokenFile(""))

	// token: no flag, no environment.
	r = u.run(nil, "", "token")
	assertOK(t, r)
	assert.Equal(t, saved.AccessToken+"\n", r.stdout)
	assert.Empty(t, r.stderr)

	// An expired token is refreshed as the remembered client, at the
	// remembered endpoint.
	u.fake.ExpireAccessTokens()
	expired := *saved
	expired.Expiry = time.Now().Add(-time.Minute)
	require.NoError(t, ultracart.NewFileStore(u.tokenFile("")).Save(context.Background(), &expired))
	r = u.run(nil, "", "token")
	assertOK(t, r)
	refreshed := load(t, u.tokenFile(""))
	assert.Equal(t, refreshed.AccessToken+"\n", r.stdout)
	assert.NotEqual(t, saved.AccessToken, refreshed.AccessToken)
	req, ok := u.fake.LastRequest(fakeuc.TokenPath)
	require.True(t, ok)
	assert.Equal(t, fakeuc.GrantRefreshToken, req.Form.Get("grant_type"))
	assert.Equal(t, "app-1", req.Form.Get("client_id"))

	// status shows the client and the endpoint, never a token.
	r = u.run(nil, "", "status")
	assertOK(t, r)
	assertNoSecrets(t, r.stdout)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, "token file: "+u.tokenFile("")+"\n")
	assert.Contains(t, r.stdout, "client id:  app-1\n")
	assert.Contains(t, r.stdout, "endpoint:   "+u.endpoint()+"\n")
	assert.Contains(t, r.stdout, "refresh:    yes\n")
	assert.NotContains(t, r.stdout, "merchants:", "no profile yet")

	r, st := u.statusJSON()
	assertOK(t, r)
	assert.Empty(t, r.stderr)
	assert.Equal(t, true, st["logged_in"])
	assert.Equal(t, "", st["merchant"])
	assert.Equal(t, u.tokenFile(""), st["token_file"])
	assert.Equal(t, "app-1", st["client_id"])
	assert.Equal(t, u.endpoint(), st["endpoint"])
	assert.Equal(t, false, st["expired"])
	assert.Equal(t, fakeuc.DefaultScope, st["scope"])
	assert.Equal(t, true, st["refreshable"])
	assert.Equal(t, []any{}, st["merchants"])
	assert.NotContains(t, st, "error")
	expiry, err := time.Parse(time.RFC3339, st["expiry"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, refreshed.Expiry, expiry, time.Second)

	// Flags still beat what login remembered, given together.
	r = u.run(nil, "", "token", "--client-id", "app-1", "--endpoint", closedURL(t))
	assert.Equal(t, exitOK, r.code, "a valid token needs no request: %s", r.stderr)

	// revoke, with no flag either; the client stays remembered.
	r = u.run(nil, "", "revoke")
	assertOK(t, r)
	assert.Equal(t, "Revoked at UltraCart; removed "+u.tokenFile("")+"\n", r.stdout)
	req, _ = u.fake.LastRequest(fakeuc.RevokePath)
	assert.Equal(t, "app-1", req.Form.Get("client_id"))
	assert.NoFileExists(t, u.tokenFile(""))
	assert.FileExists(t, clientFile(u.tokenFile("")))
	assert.FileExists(t, u.tokenFile("")+".lock", "the lock file stays")

	// Logged out: token says to log in, status --json says so.
	r = u.run(nil, "", "token")
	assertFailed(t, r, exitFailure, "ultracart-token: no token in "+u.tokenFile("")+"; run `ultracart-token login` first")
	// A token file without what login remembers needs a client id.
	require.NoError(t, os.Remove(clientFile(u.tokenFile(""))))
	r = u.run(nil, "", "token")
	assertFailed(t, r, exitFailure, "ultracart-token: no token in "+u.tokenFile("")+"; run `ultracart-token login --client-id ID` first")
	require.NoError(t, ultracart.NewFileStore(u.tokenFile("")).Save(context.Background(), refreshed))
	r = u.run(nil, "", "token")
	assertUsage(t, r, "no client id: pass --client-id or set ULTRACART_CLIENT_ID (login remembers it)")
	require.NoError(t, ultracart.NewFileStore(u.tokenFile("")).Remove(context.Background()))
	r, st = u.statusJSON()
	assert.Equal(t, exitFailure, r.code)
	assert.Equal(t, false, st["logged_in"])
	assert.Equal(t, u.tokenFile(""), st["token_file"])
	assert.Contains(t, st["error"], "no token in "+u.tokenFile(""))
	assert.Nil(t, st["expiry"])
	assert.Equal(t, "ultracart-token: "+st["error"].(string)+"\n", r.stderr, "the same error on stderr")
}

// TestBinaryMerchants: --merchant and ULTRACART_MERCHANT pick the token
// file of a profile; status lists the profiles.
func TestBinaryMerchants(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	for i, m := range []string{"acme", "beta"} {
		flow := [][]string{nil, {"--device", "--scopes", "item_read"}}[i] // one of each
		r := u.login(nil, "", append(flow, "--merchant", m, "--client-id", "app-1", "--endpoint", u.endpoint())...)
		assert.Contains(t, r.stderr, "Token saved to "+u.tokenFile(m)+" (")
	}
	acme, beta := load(t, u.tokenFile("acme")), load(t, u.tokenFile("beta"))
	require.NotEqual(t, acme.AccessToken, beta.AccessToken)
	assert.NoFileExists(t, u.tokenFile(""), "the default profile is untouched")

	r := u.run(nil, "", "token", "--merchant", "acme")
	assertOK(t, r)
	assert.Equal(t, acme.AccessToken+"\n", r.stdout)
	r = u.run([]string{"ULTRACART_MERCHANT=beta"}, "", "token")
	assertOK(t, r)
	assert.Equal(t, beta.AccessToken+"\n", r.stdout)
	r = u.run([]string{"ULTRACART_MERCHANT=beta"}, "", "token", "--merchant", "acme")
	assert.Equal(t, acme.AccessToken+"\n", r.stdout, "the flag beats the environment")

	r = u.run(nil, "", "status", "--merchant", "beta")
	assertOK(t, r)
	assert.Contains(t, r.stdout, "merchant:   beta\nclient id:  app-1\n")
	assert.Contains(t, r.stdout, "merchants:  acme, beta (pick one with --merchant NAME)\n")
	r, st := u.statusJSON("--merchant", "acme")
	assertOK(t, r)
	assert.Equal(t, "acme", st["merchant"])
	assert.Equal(t, "app-1", st["client_id"])
	assert.Equal(t, []any{"acme", "beta"}, st["merchants"])

	// The default profile has no token: status points at the others.
	r = u.run(nil, "", "status")
	assertFailed(t, r, exitFailure, "no token in "+u.tokenFile(""), "(other profiles: --merchant acme, --merchant beta)")
	r, st = u.statusJSON()
	assert.Equal(t, exitFailure, r.code)
	assert.Equal(t, false, st["logged_in"])
	assert.Equal(t, []any{"acme", "beta"}, st["merchants"])

	r = u.run(nil, "", "revoke", "--merchant", "acme")
	assertOK(t, r)
	assert.NoFileExists(t, u.tokenFile("acme"))
	assert.Equal(t, 401, statusWith(t, u.fake, acme.AccessToken))
	assert.Equal(t, 200, statusWith(t, u.fake, beta.AccessToken), "the other merchant keeps its grant")
	_, st = u.statusJSON("--merchant", "beta")
	assert.Equal(t, []any{"beta"}, st["merchants"])

	for _, bad := range []string{"a.b", "../x", "-x", ""} {
		r = u.run(nil, "", "status", "--merchant="+bad)
		if bad == "" {
			assert.Equal(t, exitFailure, r.code, "an empty name is the default profile")
			continue
		}
		assertUsage(t, r, "--merchant", "a profile name is letters, digits, - and _")
	}
	r = u.run(nil, "", "status", "--merchant", "acme", "--token-file", u.tokenFile("beta"))
	assertUsage(t, r, "pass --token-file or --merchant, not both")
}

// statusWith calls the fake's protected resource with an access token.
func statusWith(t *testing.T, fake *fakeuc.Server, access string) int {
	t.Helper()
	c := &cli{t: t, fake: fake}
	return c.apiStatus(access)
}

// TestBinaryProfilesShareTheApplication: issue 21 point 5. The application
// (client id and endpoint) is remembered once for every profile, survives a
// logout, and is forgotten only on request.
func TestBinaryProfilesShareTheApplication(t *testing.T) {
	t.Parallel()
	u := newUserCLI(t)
	u.login(nil, "", "--client-id", "app-1", "--endpoint", u.endpoint())

	// A new profile, no flag but its name.
	r := u.login(nil, "", "--merchant", "acme")
	assert.Contains(t, r.stderr, "Token saved to "+u.tokenFile("acme")+" (")
	req, ok := u.fake.LastRequest(fakeuc.TokenPath)
	require.True(t, ok)
	assert.Equal(t, "app-1", req.Form.Get("client_id"))

	// Logged out everywhere, the application is still known.
	for _, m := range []string{"", "acme"} {
		r = u.run(nil, "", "logout", "--merchant="+m)
		assertOK(t, r)
	}
	r = u.run(nil, "", "token")
	assertFailed(t, r, exitFailure, "no token in "+u.tokenFile("")+"; run `ultracart-token login` first")
	r = u.login(nil, "", "--merchant", "beta")
	assert.Contains(t, r.stderr, "Token saved to "+u.tokenFile("beta")+" (")
	assert.NotContains(t, r.stderr, "Remembered for every profile", "the same application")
	r = u.run(nil, "", "status", "--merchant", "beta")
	assertOK(t, r)
	assert.Contains(t, r.stdout, "client id:  app-1\nendpoint:   "+u.endpoint()+"\n")

	// Another application replaces it, and login says so.
	r = u.login(nil, "", "--merchant", "gamma", "--client-id", "app-2", "--endpoint", u.endpoint())
	assert.Contains(t, r.stderr, `Remembered for every profile: client id "app-2" with endpoint `+u.endpoint()+`, instead of "app-1" with `+u.endpoint())
	r = u.login(nil, "", "--merchant", "gamma", "--client-id", "app-1", "--endpoint", u.endpoint())
	assert.Contains(t, r.stderr, `instead of "app-2"`)
	r = u.run(nil, "", "logout", "--merchant", "gamma")
	assertOK(t, r)

	// Forgotten on request: the next login needs the client id again.
	r = u.run(nil, "", "logout", "--merchant", "beta", "--forget-client")
	assertOK(t, r)
	assert.Contains(t, r.stdout, "Revoked at UltraCart; removed "+u.tokenFile("beta")+"\n")
	assert.Contains(t, r.stdout, `Forgot client id "app-1" and its endpoint `+u.endpoint())
	r = u.run(nil, "", "login", "--merchant", "beta")
	assertUsage(t, r, "no client id: pass --client-id")

	// Also with no token to revoke.
	u.login(nil, "", "--merchant", "beta", "--client-id", "app-1", "--endpoint", u.endpoint())
	r = u.run(nil, "", "logout", "--forget-client")
	assertOK(t, r)
	assert.Equal(t, `Forgot client id "app-1" and its endpoint `+u.endpoint()+"; the next login needs --client-id (and --endpoint)\n", r.stdout)
	assert.NoFileExists(t, clientFile(u.tokenFile("")))
	assert.FileExists(t, u.tokenFile("beta"), "the other profiles keep their tokens")
}
