package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
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
	built    = make(chan struct{}) // closed when build returns
	binDir   string
	binPath  string
	buildErr error
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
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		// $HOME/Library/Application Support: move HOME, but keep the go
		// command's caches, which default to under HOME, where they are.
		out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
		if err != nil {
			panic(err)
		}
		for i, v := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			os.Setenv([]string{"GOCACHE", "GOMODCACHE", "GOPATH"}[i], v)
		}
		os.Setenv("HOME", config)
	}
	// The tests that run the binary wait on it far more than they compute:
	// unless -parallel is given, let them overlap beyond GOMAXPROCS (its
	// default).
	flag.Parse()
	if !flagGiven("test.parallel") {
		flag.Set("test.parallel", "8")
	}
	go build() // while the in-process tests run
	code := m.Run()
	<-built
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.RemoveAll(config)
	os.Exit(code)
}

// flagGiven reports whether the command line gave the flag name.
func flagGiven(name string) (given bool) {
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// build builds the command into a new temporary directory.
func build() {
	defer close(built)
	goTool, err := exec.LookPath("go")
	if err != nil {
		buildErr = fmt.Errorf("the go command is needed to build the binary: %w", err)
		return
	}
	binDir, buildErr = os.MkdirTemp("", "ultracart-token-test-")
	if buildErr != nil {
		return
	}
	binPath = filepath.Join(binDir, "ultracart-token")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	if out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		buildErr = errors.New(string(out))
	}
}

// binary returns the path of the command that TestMain builds.
func binary(t *testing.T) string {
	t.Helper()
	<-built
	require.NoError(t, buildErr, "go build")
	return binPath
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
	t.Parallel() // after the in-process tests, while which the binary was built
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
	t.Parallel()
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
