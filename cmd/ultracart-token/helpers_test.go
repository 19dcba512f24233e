package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

const testClientID = "test-client"

// cli runs the tool in-process against a fake UltraCart, with a token file
// in a temporary directory.
type cli struct {
	t         *testing.T
	fake      *fakeuc.Server
	tokenFile string
	env       map[string]string
	stdin     string          // what the tool reads from stdin
	ctx       context.Context // what run runs the tool with
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	fake := fakeuc.NewServer()
	t.Cleanup(fake.Close)
	tokenFile := filepath.Join(t.TempDir(), "ultracart", "token.json")
	return &cli{t: t, fake: fake, tokenFile: tokenFile, ctx: context.Background(), env: map[string]string{
		"CI":                   "true", // never open a browser
		"ULTRACART_CLIENT_ID":  testClientID,
		"ULTRACART_ENDPOINT":   fake.URL + "/rest/v2",
		"ULTRACART_TOKEN_FILE": tokenFile,
	}}
}

// result is what one run of the tool did.
type result struct {
	code           int
	stdout, stderr string
}

func (c *cli) getenv(k string) string { return c.env[k] }

// run runs the tool to completion.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	r := c.start(c.ctx, args...)
	return r.wait(c.t)
}

// inBubble runs f with a copy of c in a testing/synctest bubble, where the
// tool's requests are served in memory by the fake: a device flow's poll
// interval passes there at no cost. The fake's tokens from the bubble carry
// its times, long past outside it.
func (c *cli) inBubble(f func(c *cli)) {
	synctest.Test(c.t, func(t *testing.T) {
		b := *c
		b.t = t
		b.ctx = context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: c.fake.Transport()})
		f(&b)
		// x/oauth2's DeviceAuth never closes its response's body, so the
		// timer of the tool's client outlives the request: let it end.
		time.Sleep(httpTimeout)
	})
}

// running is a run of the tool in progress.
type running struct {
	stdout bytes.Buffer // read only after done
	stderr *lineBuffer
	code   int
	done   chan struct{}
}

// start runs the tool in the background.
func (c *cli) start(ctx context.Context, args ...string) *running {
	r := &running{stderr: newLineBuffer(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = run(ctx, args, c.getenv, strings.NewReader(c.stdin), &r.stdout, r.stderr)
	}()
	return r
}

func (r *running) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the command did not finish", "stderr so far:\n%s", r.stderr.String())
	}
	return result{code: r.code, stdout: r.stdout.String(), stderr: r.stderr.String()}
}

// lineBuffer is an io.Writer whose lines a test can wait for.
type lineBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // signalled after each write
}

func newLineBuffer() *lineBuffer { return &lineBuffer{written: make(chan struct{}, 1)} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.written <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits for a complete line that starts with prefix and returns
// the rest of it.
func (b *lineBuffer) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		for line := range strings.Lines(b.String()) {
			if rest, ok := strings.CutPrefix(line, prefix); ok && strings.HasSuffix(rest, "\n") {
				return strings.TrimSuffix(rest, "\n")
			}
		}
		select {
		case <-b.written:
		case <-timeout:
			require.FailNow(t, "no line starting with "+prefix, "output so far:\n%s", b.String())
		}
	}
}

// browse opens u as a browser would, following redirects, and returns the
// status and body of the last answer.
func browse(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// saveToken writes tok to the token file.
func (c *cli) saveToken(tok *oauth2.Token) {
	c.t.Helper()
	require.NoError(c.t, ultracart.NewFileStore(c.tokenFile).Save(context.Background(), tok))
}

// loadToken reads the token file.
func (c *cli) loadToken() *oauth2.Token {
	c.t.Helper()
	tok, err := ultracart.NewFileStore(c.tokenFile).Load(context.Background())
	require.NoError(c.t, err)
	return tok
}

// apiStatus calls the fake's protected resource with an access token.
func (c *cli) apiStatus(access string) int {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.fake.URL+fakeuc.ItemsPath, nil)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set(ultracart.APIVersionHeader, ultracart.APIVersion)
	resp, err := (&http.Client{Transport: c.fake.Transport()}).Do(req) // in a bubble too
	require.NoError(c.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// assertNoSecrets checks that out holds no credential the fake minted.
func assertNoSecrets(t *testing.T, out string) {
	t.Helper()
	for _, prefix := range []string{
		fakeuc.AccessTokenPrefix, fakeuc.RefreshTokenPrefix,
		fakeuc.CodePrefix, fakeuc.DeviceCodePrefix,
	} {
		assert.NotContains(t, out, prefix)
	}
}

// assertFailed checks a failed run: the status, nothing on stdout, a last
// line on stderr that starts with "ultracart-token: " and contains each of
// want, no other such line, no stack trace and no secret.
func assertFailed(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	assert.Equal(t, code, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, r.stdout)
	require.True(t, strings.HasSuffix(r.stderr, "\n"), "stderr: %q", r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "ultracart-token: "), "last line %q", last)
	assert.Equal(t, 1, strings.Count(r.stderr, "ultracart-token: "), "one error line: %s", r.stderr)
	for _, w := range want {
		assert.Contains(t, last, w)
	}
	assert.NotContains(t, r.stderr, "goroutine ")
	assert.NotContains(t, r.stderr, "ultracart: ", "the library's prefix is not repeated after the tool's")
	assertNoSecrets(t, r.stdout+r.stderr)
}

// closedURL is the base URL of a port on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/rest/v2"
}

// freeAddr returns an address on 127.0.0.1 that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort().String()
}
