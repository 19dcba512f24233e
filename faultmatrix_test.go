package ultracart_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// The fault matrix runs every token-endpoint operation against
// ultracarttest with every fault it can inject, and checks each cell for
// what a caller relies on: an error and never a token; an *Error with the
// status of the response where one came back, and the network error in its
// chain where none did; Temporary() for 408, 429, 5xx, timeouts and resets;
// the store unchanged; no request elsewhere; no goroutine left behind; and
// no secret in any text of the error.

const (
	matrixClientSecret = "matrix/client+SECRET=31"
	matrixState        = "matrix-state-SECRET-77"
	matrixRedirect     = "https://app.example/callback"
	// matrixHang bounds a call to a server that never answers.
	matrixHang = 500 * time.Millisecond
)

// matrixCell is one operation against one fault, on a fresh server.
type matrixCell struct {
	srv    *ultracarttest.Server
	conf   *ultracart.Config
	ctx    context.Context // carries the cell's HTTP client
	client *http.Client
	// secrets are every secret the cell knows, sent or not.
	secrets []string
	// after checks what the failure must have left alone.
	after func(t *testing.T)
}

// matrixOp is one operation of the matrix.
type matrixOp struct {
	name string
	path string                        // the path the fault is put on
	made func(ultracarttest.Stats) int // the requests the call made to path
	// clientTimeout: the call does not take the caller's context (a
	// PersistentTokenSource refreshes on its own), so the HTTP client's
	// Timeout bounds a server that never answers.
	clientTimeout bool
	// hang is how long the caller's context lets a never-answering call run.
	hang time.Duration
	// prepare readies the call on c and returns it with the secrets its
	// request carries, which the fault's body echoes back.
	prepare func(t *testing.T, c *matrixCell) (call func(ctx context.Context) (*oauth2.Token, error), sent []string)
}

func matrixOps() []matrixOp {
	stale := func(tok *oauth2.Token) *oauth2.Token {
		return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: "bearer", RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute).Round(0)}
	}
	sameToken := func(t *testing.T, want, got *oauth2.Token) {
		t.Helper()
		require.NotNil(t, got)
		assert.Equal(t, want.AccessToken, got.AccessToken, "store changed")
		assert.Equal(t, want.RefreshToken, got.RefreshToken, "store changed")
		assert.True(t, want.Expiry.Equal(got.Expiry), "store changed")
	}
	return []matrixOp{
		{
			name: "Exchange", path: ultracarttest.TokenPath, hang: matrixHang,
			made: func(s ultracarttest.Stats) int { return s.Exchange },
			prepare: func(t *testing.T, c *matrixCell) (func(context.Context) (*oauth2.Token, error), []string) {
				code := matrixCode(t, c)
				c.secrets = append(c.secrets, code, matrixState)
				return func(ctx context.Context) (*oauth2.Token, error) {
					return c.conf.Exchange(ctx, code)
				}, []string{code, matrixClientSecret}
			},
		},
		{
			name: "Refresh", path: ultracarttest.TokenPath, clientTimeout: true,
			made: func(s ultracarttest.Stats) int { return s.Refresh },
			prepare: func(t *testing.T, c *matrixCell) (func(context.Context) (*oauth2.Token, error), []string) {
				tok := stale(c.srv.IssueToken(""))
				store := ultracart.NewMemoryStore(tok)
				src := ultracart.PersistentTokenSource(c.ctx, &c.conf.Config, store)
				c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
				c.after = func(t *testing.T) {
					got, err := store.Load(context.Background())
					require.NoError(t, err)
					sameToken(t, tok, got)
				}
				return func(context.Context) (*oauth2.Token, error) { return src.Token() }, []string{tok.RefreshToken, matrixClientSecret}
			},
		},
		{
			name: "RefreshFileStore", path: ultracarttest.TokenPath, clientTimeout: true,
			made: func(s ultracarttest.Stats) int { return s.Refresh },
			prepare: func(t *testing.T, c *matrixCell) (func(context.Context) (*oauth2.Token, error), []string) {
				tok := stale(c.srv.IssueToken(""))
				dir := t.TempDir()
				path := filepath.Join(dir, "token.json")
				store := ultracart.NewFileStore(path)
				require.NoError(t, store.Save(context.Background(), tok))
				saved, err := os.ReadFile(path)
				require.NoError(t, err)
				src := ultracart.PersistentTokenSource(c.ctx, &c.conf.Config, store)
				c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
				c.after = func(t *testing.T) {
					now, err := os.ReadFile(path)
					require.NoError(t, err)
					assert.Equal(t, string(saved), string(now), "the token file changed")
					got, err := ultracart.NewFileStore(path).Load(context.Background())
					require.NoError(t, err)
					sameToken(t, tok, got)
					entries, err := os.ReadDir(dir)
					require.NoError(t, err)
					for _, e := range entries {
						assert.Contains(t, []string{"token.json", "token.json.lock"}, e.Name(), "a file was left behind")
					}
				}
				return func(context.Context) (*oauth2.Token, error) { return src.Token() }, []string{tok.RefreshToken, matrixClientSecret}
			},
		},
		{
			// Polls wait the interval (1 s) first: a never-answering poll
			// needs more than that.
			name: "DeviceAccessToken", path: ultracarttest.TokenPath, hang: time.Second + matrixHang*2,
			made: func(s ultracarttest.Stats) int { return s.DeviceToken },
			prepare: func(t *testing.T, c *matrixCell) (func(context.Context) (*oauth2.Token, error), []string) {
				da, err := c.conf.DeviceAuth(c.ctx)
				require.NoError(t, err)
				require.EqualValues(t, 1, da.Interval)
				c.secrets = append(c.secrets, da.DeviceCode)
				return func(ctx context.Context) (*oauth2.Token, error) {
					return c.conf.DeviceAccessToken(ctx, da)
				}, []string{da.DeviceCode, matrixClientSecret}
			},
		},
		{
			name: "Revoke", path: ultracarttest.RevokePath, hang: matrixHang,
			made: func(s ultracarttest.Stats) int { return s.Revoke },
			prepare: func(t *testing.T, c *matrixCell) (func(context.Context) (*oauth2.Token, error), []string) {
				tok := c.srv.IssueToken("")
				c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
				return func(ctx context.Context) (*oauth2.Token, error) {
					return nil, c.conf.Revoke(ctx, tok.RefreshToken)
				}, []string{tok.RefreshToken, matrixClientSecret}
			},
		},
	}
}

// matrixCode plays the merchant's browser on the cell's server and returns
// a fresh authorization code.
func matrixCode(t *testing.T, c *matrixCell) string {
	t.Helper()
	browser := &http.Client{
		Transport:     c.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := browser.Get(c.conf.AuthCodeURL(matrixState))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, matrixState, loc.Query().Get("state"))
	code := loc.Query().Get("code")
	require.True(t, strings.HasPrefix(code, ultracarttest.CodePrefix), code)
	return code
}

// matrixFault is one fault of the matrix.
type matrixFault struct {
	name string
	// fault builds the fault from the echo of the request's secrets and the
	// URL of another host.
	fault func(echo, elsewhere string) ultracarttest.Fault
	// status is the status of the response the client got; 0: none came back.
	status    int
	temporary bool
	hang      bool // the server never answers
	redirect  bool // the server redirects to another host
	// cause finds the network error in the chain when no response came back,
	// or the read error of a broken body.
	cause func(err error) bool
	// check checks what the *Error took from the response; op is the
	// operation's name.
	check func(t *testing.T, op string, e *ultracart.Error)
}

func matrixFaults() []matrixFault {
	var faults []matrixFault
	for _, status := range []int{400, 401, 403, 404, 410, 429, 500, 502, 503} {
		header := func(kv ...string) http.Header {
			h := http.Header{}
			for i := 0; i+1 < len(kv); i += 2 {
				h.Set(kv[i], kv[i+1])
			}
			if status == http.StatusTooManyRequests {
				h.Set("Retry-After", "7")
			}
			return h
		}
		temporary := status == http.StatusTooManyRequests || status >= 500
		faults = append(faults,
			matrixFault{
				name: fmt.Sprintf("%d-json", status), status: status, temporary: temporary,
				fault: func(echo, _ string) ultracarttest.Fault {
					return ultracarttest.Fault{Status: status, Header: header("Content-Type", "application/json"),
						Body: `{"error":"invalid_grant","error_description":"refused: ` + echo + `"}`}
				},
				check: func(t *testing.T, _ string, e *ultracart.Error) {
					assert.Equal(t, "invalid_grant", e.Code)
					assert.ErrorIs(t, e, ultracart.ErrInvalidGrant)
					assert.True(t, strings.HasPrefix(e.Description, "refused: [redacted]"), e.Description)
				},
			},
			matrixFault{
				name: fmt.Sprintf("%d-envelope", status), status: status, temporary: temporary,
				fault: func(echo, _ string) ultracarttest.Fault {
					return ultracarttest.Fault{Status: status, Header: header("Content-Type", "application/json", "UC-REST-ERROR", "rest: "+echo),
						Body: fmt.Sprintf(`{"error":{"developer_message":"dev: %s","error_code":"%d","more_info":"https://www.ultracart.com/api/","object_id":"obj: %s","user_message":"user: %s"},"metadata":{},"success":false}`, echo, status, echo, echo)}
				},
				check: func(t *testing.T, _ string, e *ultracart.Error) {
					assert.Empty(t, e.Code)
					assert.True(t, strings.HasPrefix(e.DeveloperMessage, "dev: [redacted]"), e.DeveloperMessage)
					assert.True(t, strings.HasPrefix(e.UserMessage, "user: [redacted]"), e.UserMessage)
					assert.True(t, strings.HasPrefix(e.ObjectID, "obj: [redacted]"), e.ObjectID)
					assert.True(t, strings.HasPrefix(e.RESTError, "rest: [redacted]"), e.RESTError)
					assert.Equal(t, "https://www.ultracart.com/api/", e.MoreInfo)
				},
			},
			matrixFault{
				name: fmt.Sprintf("%d-html", status), status: status, temporary: temporary,
				fault: func(echo, _ string) ultracarttest.Fault {
					return ultracarttest.Fault{Status: status, Header: header("Content-Type", "text/html; charset=utf-8"),
						Body: fmt.Sprintf("<html>\n<head><title>%d</title></head>\n<body>upstream said %s</body></html>", status, echo)}
				},
				check: func(t *testing.T, _ string, e *ultracart.Error) {
					assert.Empty(t, e.Code)
					assert.True(t, strings.HasPrefix(e.Description, "unexpected response: <html> <head><title>"), e.Description)
					assert.Contains(t, e.Description, "upstream said [redacted]")
				},
			},
			matrixFault{
				name: fmt.Sprintf("%d-empty", status), status: status, temporary: temporary,
				fault: func(string, string) ultracarttest.Fault {
					return ultracarttest.Fault{Status: status, Header: header()}
				},
				check: func(t *testing.T, op string, e *ultracart.Error) {
					assert.Empty(t, e.Code)
					if op != "Revoke" {
						assert.Equal(t, "empty response", e.Description)
					}
					assert.Contains(t, e.Error(), fmt.Sprintf("(HTTP %d)", status))
				},
			},
		)
	}
	// A body that would be a success, were it not too large.
	huge := `{"successful":true,"access_token":"uc-at-huge","token_type":"bearer","expires_in":"3600","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	faults = append(faults,
		matrixFault{
			name: "over-1MiB", status: http.StatusOK,
			fault: func(string, string) ultracarttest.Fault {
				return ultracarttest.Fault{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: huge}
			},
			check: func(t *testing.T, _ string, e *ultracart.Error) {
				assert.Equal(t, "response body exceeds 1 MiB", e.Description)
			},
		},
		matrixFault{
			name: "wrong-content-type", status: http.StatusBadRequest,
			fault: func(echo, _ string) ultracarttest.Fault {
				return ultracarttest.Fault{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"text/html; charset=iso-8859-1"}},
					Body: `{"error":"invalid_grant","error_description":"refused: ` + echo + `"}`}
			},
			check: func(t *testing.T, _ string, e *ultracart.Error) {
				assert.ErrorIs(t, e, ultracart.ErrInvalidGrant, "the JSON is read whatever the Content-Type")
			},
		},
		matrixFault{
			name: "truncated", status: http.StatusOK, temporary: true,
			fault: func(string, string) ultracarttest.Fault {
				return ultracarttest.Fault{Truncate: true, Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
					Body: `{"successful":true,"access_token":"uc-at-trunc","token_type":"bearer","expires_in":"36`}
			},
			cause: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
		},
		matrixFault{
			name: "reset", temporary: true,
			fault: func(string, string) ultracarttest.Fault { return ultracarttest.Fault{Reset: true} },
			cause: func(err error) bool {
				return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			},
		},
		matrixFault{
			name: "never-answers", temporary: true, hang: true,
			fault: func(string, string) ultracarttest.Fault { return ultracarttest.Fault{Delay: time.Hour} },
			cause: func(err error) bool {
				var ne net.Error
				return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
			},
		},
		matrixFault{
			name: "redirect-other-host", status: http.StatusTemporaryRedirect, redirect: true,
			fault: func(_, elsewhere string) ultracarttest.Fault {
				return ultracarttest.Fault{Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {elsewhere}}}
			},
			check: func(t *testing.T, op string, e *ultracart.Error) {
				if op == "Revoke" {
					assert.Contains(t, e.Error(), "redirect, which is not followed")
				} else {
					assert.Contains(t, e.Error(), "another origin")
				}
			},
		},
	)
	return faults
}

// TestFaultMatrix runs the matrix. Each cell has its own server and HTTP
// transport. The operations run at once, each with its cells one at a time
// (DeviceAccessToken's all at once: its polls wait a whole second), and the
// matrix as a whole must leave no goroutine behind: it runs alone, no other
// test running beside it.
func TestFaultMatrix(t *testing.T) {
	faults := matrixFaults()
	var cells atomic.Int32
	checkGoroutines(t)
	for _, op := range matrixOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			if op.name != "DeviceAccessToken" {
				for _, f := range faults {
					cells.Add(1)
					t.Run(f.name, func(t *testing.T) { runMatrixCell(t, op, f) })
				}
				return
			}
			var wg sync.WaitGroup
			for _, f := range faults {
				cells.Add(1)
				wg.Go(func() {
					// Run may be called from several goroutines at once.
					t.Run(f.name, func(t *testing.T) { runMatrixCell(t, op, f) })
				})
			}
			wg.Wait()
		})
	}
	t.Cleanup(func() { t.Logf("%d cells", cells.Load()) })
}

func runMatrixCell(t *testing.T, op matrixOp, f matrixFault) {
	srv := ultracarttest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetOptions(ultracarttest.Options{ClientSecret: matrixClientSecret})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	if f.hang && op.clientTimeout {
		client.Timeout = matrixHang
	}
	c := &matrixCell{
		srv: srv,
		conf: &ultracart.Config{Config: oauth2.Config{
			ClientID:     "matrix-client",
			ClientSecret: matrixClientSecret,
			Endpoint:     srv.Endpoint(),
			RedirectURL:  matrixRedirect,
			Scopes:       []string{ultracart.ScopeItemRead},
		}},
		ctx:     context.WithValue(context.Background(), oauth2.HTTPClient, client),
		client:  client,
		secrets: []string{matrixClientSecret},
	}
	var elsewhere *ultracarttest.Server
	elsewhereURL := ""
	if f.redirect {
		elsewhere = ultracarttest.NewServer()
		t.Cleanup(elsewhere.Close)
		// Another host name for the same machine.
		elsewhereURL = strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) + op.path
	}

	call, sent := op.prepare(t, c)
	// The fault's texts echo every secret of the request, as sent in the
	// form and decoded, the way a careless proxy or server might.
	var echo []string
	for _, s := range sent {
		echo = append(echo, s, url.QueryEscape(s))
	}
	srv.Fail(op.path, f.fault(strings.Join(echo, " "), elsewhereURL))

	timeout := 30 * time.Second
	if f.hang && !op.clientTimeout {
		timeout = op.hang
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	start := time.Now()
	tok, err := call(ctx)
	cancel()

	require.Error(t, err)
	t.Logf("%v", err)
	assert.Nil(t, tok, "a failed call returns no token")
	if f.hang {
		assert.Less(t, time.Since(start), timeout+5*time.Second, "the call was not bounded")
	}
	var e *ultracart.Error
	require.ErrorAs(t, err, &e, "%T: %v", err, err)
	assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
	assert.Equal(t, f.status, e.StatusCode, "status of %v", err)
	assert.Equal(t, f.temporary, e.Temporary(), "Temporary() of %v", err)
	if f.status == 0 {
		assert.NotNil(t, e.Err, "the network error is kept")
	}
	if f.cause != nil {
		assert.True(t, f.cause(err), "cause not in the chain of %v", err)
	}
	if f.status == http.StatusTooManyRequests {
		assert.Equal(t, 7*time.Second, e.RetryAfter)
	}
	if f.check != nil {
		f.check(t, op.name, e)
	}
	if elsewhere != nil {
		assert.Empty(t, elsewhere.Requests(), "a request reached the other host")
	}
	assert.Equal(t, 1, op.made(srv.Stats()), "requests to %s", op.path)
	if c.after != nil {
		c.after(t)
	}
	assertNoSecrets(t, err, c.secrets...)
}

// assertNoSecrets checks that err, formatted with %v, %+v and %#v, and
// every error of its chain carry none of secrets, in the forms a request
// carries them.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, leak := range findSecrets(err, secrets...) {
		t.Errorf("an error text carries a secret: %s", leak)
	}
}

// findSecrets returns, for each of secrets (raw or URL-encoded) that err
// carries, the first text of err that carries it.
func findSecrets(err error, secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
	}
	texts := []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for queue := []error{err}; len(queue) > 0; queue = queue[1:] {
		e := queue[0]
		if e == nil {
			continue
		}
		texts = append(texts, fmt.Sprintf("%v", e), fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			queue = append(queue, u.Unwrap())
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
	var leaks []string
	for _, s := range forms {
		for _, text := range texts {
			if strings.Contains(text, s) {
				leaks = append(leaks, fmt.Sprintf("%q in %s", s, text))
				break
			}
		}
	}
	return leaks
}

// checkGoroutines makes t fail if, once its cleanups have run, more
// goroutines run than before it started; those that are winding down get
// up to 2 s.
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { // registered first, so it runs last
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-base, base, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
