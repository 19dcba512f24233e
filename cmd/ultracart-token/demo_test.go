package main

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	c := newCLI(t)
	r := c.run("demo")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	want := regexp.MustCompile(`^demo: a fake UltraCart at http://127\.0\.0\.1:\d+; no account, no network
1\. login: the fake approved demo-client; token saved to (\S+)
2\. api: GET /rest/v2/item/items → 200, 2 items
3\. expiry: access token expired; refreshed once, rotated refresh token saved \(changed: yes\)
4\. restart: a new token source reloaded the token from the file; api → 200
5\. revoke: revoked at UltraCart; token file removed; api → 401
demo: done
$`)
	m := want.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "output:\n%s", r.stdout)
	assert.NoDirExists(t, filepath.Dir(m[1]), "the demo removes its temporary directory")
	assertNoSecrets(t, r.stdout)
	assert.NoFileExists(t, c.tokenFile, "the demo leaves the real token file alone")
}

// The tests below run the real binary and the go command.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The merchant profiles live in the user's config directory: give the
	// tests and the binaries they run one of their own.
	config, err := os.MkdirTemp("", "ultracart-token-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", config) // Linux and the BSDs
	os.Setenv("AppData", config)         // Windows
	os.Setenv("HOME", config)            // macOS: $HOME/Library/Application Support
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.RemoveAll(config)
	os.Exit(code)
}

// binary builds the command once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ultracart-token-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ultracart-token")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		out, err := exec.Command(goTool(t), "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	require.NoError(t, buildErr, "go build")
	return binPath
}

func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the binary")
	return p
}

// exitCode returns the exit status of a finished command.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func TestBinary(t *testing.T) {
	bin := binary(t)
	c := newCLI(t)
	tok := c.fake.IssueToken("")
	c.saveToken(tok)
	environ := append(os.Environ(), "CI=true",
		"ULTRACART_CLIENT_ID="+testClientID,
		"ULTRACART_ENDPOINT="+c.fake.URL+"/rest/v2",
		"ULTRACART_TOKEN_FILE="+c.tokenFile)

	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{args: []string{"--help"}, code: exitOK, wantStdout: "Usage:"},
		{args: []string{"frobnicate"}, code: exitUsage, wantStderr: `ultracart-token: unknown command "frobnicate"`},
		{args: []string{"token", "--client-id="}, code: exitOK, wantStdout: tok.AccessToken + "\n"}, // empty flag: the environment counts
		{args: []string{"status", "--token-file", c.tokenFile + ".missing"}, code: exitFailure, wantStderr: "ultracart-token: no token in " + c.tokenFile + ".missing"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = environ
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			assert.Equal(t, tt.code, exitCode(t, cmd.Run()), stderr.String())
			assert.Contains(t, stdout.String(), tt.wantStdout)
			assert.Contains(t, stderr.String(), tt.wantStderr)
			if tt.wantStdout == "" {
				assert.Empty(t, stdout.String())
			}
		})
	}
}

// TestBinaryInterruptedLogin checks that Ctrl-C during login stops the
// callback server and exits with one line, no stack trace.
func TestBinaryInterruptedLogin(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os.Interrupt cannot be sent to a process on Windows")
	}
	bin := binary(t)
	c := newCLI(t)
	cmd := exec.Command(bin, "login", "--no-browser")
	cmd.Env = append(os.Environ(),
		"ULTRACART_CLIENT_ID="+testClientID,
		"ULTRACART_ENDPOINT="+c.fake.URL+"/rest/v2",
		"ULTRACART_TOKEN_FILE="+c.tokenFile)
	var stdout bytes.Buffer
	stderr := newLineBuffer()
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	redirect := strings.TrimSuffix(stderr.waitLine(t, waitingLine), " (Ctrl-C to cancel)...")
	_, err := url.Parse(redirect)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "login did not stop on interrupt")
	}
	assertFailed(t, result{code: exitCode(t, err), stdout: stdout.String(), stderr: stderr.String()},
		exitInterrupted, "ultracart-token: login: interrupted")
	assertCallbackClosed(t, redirect)
	assert.NoFileExists(t, c.tokenFile)
}

// TestREADMECommandsInFreshClone runs the two commands that open the
// README, read from it, in a fresh clone of the committed HEAD, as CI does:
// the demo, then the tests (all but this one, which would recurse).
func TestREADMECommandsInFreshClone(t *testing.T) {
	git, err := exec.LookPath("git")
	require.NoError(t, err, "git is needed to clone the repository")
	out, err := exec.Command(goTool(t), "env", "GOMOD").Output()
	require.NoError(t, err)
	root := filepath.Dir(strings.TrimSpace(string(out)))
	require.NoError(t, exec.Command(git, "-C", root, "cat-file", "-e", "HEAD:cmd/ultracart-token/main.go").Run(),
		"cmd/ultracart-token must be committed: the test clones HEAD")
	clone := filepath.Join(t.TempDir(), "clone")
	out, err = exec.Command(git, "clone", "--quiet", root, clone).CombinedOutput()
	require.NoError(t, err, "git clone: %s", out)

	readme, err := os.ReadFile(filepath.Join(clone, "README.md"))
	require.NoError(t, err)
	commands := readmeCommands(t, string(readme))
	require.Len(t, commands, 2, "the README opens with two commands")
	require.Equal(t, []string{"go", "run", "./cmd/ultracart-token", "demo"}, commands[0])
	require.Equal(t, []string{"go", "test"}, commands[1][:2])

	goCmd := func(args ...string) (string, int) {
		cmd := exec.Command(goTool(t), args...)
		cmd.Dir = clone
		// Offline, from the module cache and go.sum as committed.
		cmd.Env = append(os.Environ(), "CI=true", "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(t, err)
	}
	out2, code := goCmd(commands[0][1:]...)
	assert.Equal(t, 0, code, out2)
	assert.Contains(t, out2, "\ndemo: done\n")
	out2, code = goCmd(append(commands[1][1:], "-skip", "^"+t.Name()+"$")...)
	assert.Equal(t, 0, code, out2)
	assert.Contains(t, out2, "ok  \tgithub.com/ultracart-go/ultracart\t")
}

// readmeCommands returns the commands of the README's first shell block,
// without their comments.
func readmeCommands(t *testing.T, readme string) [][]string {
	t.Helper()
	_, block, ok := strings.Cut(readme, "```sh\n")
	require.True(t, ok, "the README has no shell block")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	var commands [][]string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if fields := strings.Fields(line); len(fields) > 0 {
			commands = append(commands, fields)
		}
	}
	return commands
}
