package ultracart_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
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
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// memServer serves requests in memory (fakeuc.InMemory), so that a test
// can run in a synctest bubble, where a device poll waits its interval at
// no cost. It records what it served.
type memServer struct {
	handler http.HandlerFunc
	mu      sync.Mutex
	reqs    []memRequest
}

type memRequest struct {
	Method string
	URL    *url.URL
	Header http.Header
	Form   url.Values // of the body; of the query for a GET
}

func newMemServer(handler http.HandlerFunc) *memServer { return &memServer{handler: handler} }

func (m *memServer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	form, _ := url.ParseQuery(string(body))
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	m.mu.Lock()
	m.reqs = append(m.reqs, memRequest{r.Method, r.URL, r.Header.Clone(), form})
	m.mu.Unlock()
	in := r.Clone(r.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := fakeuc.InMemory(m.handler).RoundTrip(in)
	if resp != nil {
		resp.Request = r
	}
	return resp, err
}

func (m *memServer) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: m})
}

func (m *memServer) requests() []memRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]memRequest(nil), m.reqs...)
}

// TestDialectTransportKeepsRequest: the transport of NewContext sends on a
// copy of a token request with the version header, leaving the caller's
// request as it was (a RoundTripper must not change it), and gives back
// the translated body with a Content-Length that fits it.
func TestDialectTransportKeepsRequest(t *testing.T) {
	srv := newMemServer(reply(200, `{"access_token":"at","expires_in":" 3600 "}`, "Content-Length", "42"))
	client := ultracart.NewContext(srv.ctx()).Value(oauth2.HTTPClient).(*http.Client)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {testRefreshToken}}.Encode()
	req, err := http.NewRequest(http.MethodPost, "http://uc.test/rest/v2/oauth/token", strings.NewReader(form))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Transport.RoundTrip(req)
	require.NoError(t, err)
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.JSONEq(t, `{"access_token":"at","expires_in":3600}`, string(out))
	assert.Equal(t, fmt.Sprint(len(out)), resp.Header.Get("Content-Length"))
	assert.Equal(t, int64(len(out)), resp.ContentLength)
	assert.Empty(t, req.Header.Get(ultracart.APIVersionHeader), "the caller's request is not changed")
	sent := srv.requests()
	require.Len(t, sent, 1)
	assert.Equal(t, ultracart.APIVersion, sent[0].Header.Get(ultracart.APIVersionHeader))
	assert.Equal(t, testRefreshToken, sent[0].Form.Get("refresh_token"))
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
	const envelope = `{"error":{"developer_message":"The refresh token is invalid.","error_code":"400"},"metadata":{},"success":false}`
	header := []string{"UC-REST-ERROR", "The refresh token is invalid."}
	type answer struct {
		status  int
		body    string
		headers []string
	}
	expired := &oauth2.Token{AccessToken: testAccessToken, RefreshToken: testRefreshToken, Expiry: time.Unix(1, 0)}
	grants := []struct {
		name  string
		grant string
		call  func(ctx context.Context, conf *ultracart.Config) error
	}{
		{"code", "authorization_code", func(ctx context.Context, conf *ultracart.Config) error {
			_, err := conf.Exchange(ctx, testCode)
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
			// A bubble, so that the device poll waits its interval at no cost.
			t.Run(tt.name+"/"+g.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv := newMemServer(reply(tt.answer.status, tt.answer.body, tt.answer.headers...))
					conf := testConfig("http://uc.test")
					err := g.call(srv.ctx(), conf)
					var e *ultracart.Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, tt.answer.status, e.StatusCode)
					reqs := srv.requests()
					require.Len(t, reqs, 1)
					assert.Equal(t, g.grant, reqs[0].Form.Get("grant_type"))
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
						_, err := conf.Config.TokenSource(ultracart.NewContext(srv.ctx()), expired).Token()
						var re *oauth2.RetrieveError
						require.ErrorAs(t, err, &re)
						assert.Equal(t, want, re.ErrorCode == "invalid_grant", "x/oauth2's error code: %q", re.ErrorCode)
					}
				})
			})
		}
	}
}

const (
	matrixClientSecret = "matrix/client+SECRET=31"
	// matrixHang bounds a call to a server that never answers.
	matrixHang = 50 * time.Millisecond
)

type matrixOp struct {
	name string
	path string // the path the fault is put on
	// clientTimeout: the call does not take the caller's context (a
	// PersistentTokenSource refreshes on its own), so the HTTP client's
	// Timeout bounds a server that never answers.
	clientTimeout bool
	// prepare readies the call and returns it with the secrets its request
	// carries, which the fault's body echoes back, and a check of what the
	// failure must have left alone. The fault answers in the server's place:
	// the code and tokens need not be ones it issued.
	prepare func(ctx context.Context, conf *ultracart.Config) (call func(context.Context) (*oauth2.Token, error), sent []string, after func(t *testing.T))
}

func matrixOps() []matrixOp {
	return []matrixOp{
		{name: "Exchange", path: ultracarttest.TokenPath,
			prepare: func(_ context.Context, conf *ultracart.Config) (func(context.Context) (*oauth2.Token, error), []string, func(*testing.T)) {
				return func(ctx context.Context) (*oauth2.Token, error) { return conf.Exchange(ctx, testCode) }, []string{testCode, matrixClientSecret}, nil
			}},
		{name: "Refresh", path: ultracarttest.TokenPath, clientTimeout: true,
			prepare: func(ctx context.Context, conf *ultracart.Config) (func(context.Context) (*oauth2.Token, error), []string, func(*testing.T)) {
				tok := &oauth2.Token{AccessToken: testAccessToken, TokenType: "bearer", RefreshToken: testRefreshToken, Expiry: time.Now().Add(-time.Minute).Round(0)}
				store := ultracart.NewMemoryStore(tok)
				src := ultracart.PersistentTokenSource(ctx, &conf.Config, store)
				return func(context.Context) (*oauth2.Token, error) { return src.Token() }, []string{testRefreshToken, matrixClientSecret}, func(t *testing.T) {
					got, err := store.Load(context.Background())
					require.NoError(t, err)
					assert.Equal(t, tok, got, "the store changed")
				}
			}},
		{name: "Revoke", path: ultracarttest.RevokePath,
			prepare: func(_ context.Context, conf *ultracart.Config) (func(context.Context) (*oauth2.Token, error), []string, func(*testing.T)) {
				return func(ctx context.Context) (*oauth2.Token, error) {
					return nil, conf.Revoke(ctx, testRefreshToken)
				}, []string{testRefreshToken, matrixClientSecret}, nil
			}},
	}
}

type matrixFault struct {
	name string
	// fault builds the fault from the echo of the request's secrets.
	fault func(echo string) fakeuc.Fault
	// status is the status of the response the client got; 0: none came back.
	status    int
	temporary bool
	hang      bool // the server never answers
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
				fault: func(echo string) fakeuc.Fault {
					return fakeuc.Fault{Status: status, Header: header("Content-Type", "application/json"),
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
				fault: func(echo string) fakeuc.Fault {
					return fakeuc.Fault{Status: status, Header: header("Content-Type", "application/json", "UC-REST-ERROR", "rest: "+echo),
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
				fault: func(echo string) fakeuc.Fault {
					return fakeuc.Fault{Status: status, Header: header("Content-Type", "text/html; charset=utf-8"),
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
				fault: func(string) fakeuc.Fault {
					return fakeuc.Fault{Status: status, Header: header()}
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
	// Answers read whole, each compared with the *Error it stands for (Err
	// aside): errors in a 2xx answer, a 408, malformed successes, a refused
	// revocation, a success at 500.
	answer := func(name string, status int, body string, want ultracart.Error, revoke string) matrixFault {
		return matrixFault{name: name, status: status, temporary: status == http.StatusRequestTimeout || status >= 500,
			fault: func(string) fakeuc.Fault {
				return fakeuc.Fault{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
			},
			check: func(t *testing.T, op string, e *ultracart.Error) {
				w := want
				if op == "Revoke" && revoke != "" {
					w.Description = revoke // a revoke answer says so, or lacks a confirmation
				}
				got := *e
				got.Err = nil
				assert.Equal(t, w, got)
				for _, sentinel := range []error{ultracart.ErrInvalidGrant, ultracart.ErrAccessDenied, ultracart.ErrInvalidRequest} {
					assert.Equal(t, "ultracart: "+want.Code == sentinel.Error(), errors.Is(e, sentinel), "errors.Is(%v)", sentinel)
				}
			},
		}
	}
	const noConfirmation = "the revoke endpoint did not confirm the revocation"
	faults = append(faults,
		answer("200-rfc", 200, `{"error":"invalid_request","error_description":"missing code","error_uri":"https://docs.example/g"}`,
			ultracart.Error{StatusCode: 200, Code: "invalid_request", Description: "missing code", URI: "https://docs.example/g"}, ""),
		answer("403-access_denied", 403, `{"error":"access_denied"}`, ultracart.Error{StatusCode: 403, Code: "access_denied"}, ""),
		answer("200-envelope", 200, `{"error":{"developer_message":"dev msg","more_info":"https://docs.example/e","object_id":"obj-1","user_message":"user msg"},"success":false}`,
			ultracart.Error{StatusCode: 200, DeveloperMessage: "dev msg", UserMessage: "user msg", MoreInfo: "https://docs.example/e", ObjectID: "obj-1"}, ""),
		answer("200-html", 200, "<html>\n<body>Proxy   login</body></html>",
			ultracart.Error{StatusCode: 200, Description: "unexpected response: <html> <body>Proxy login</body></html>"}, ""),
		answer("408-empty-object", 408, `{}`, ultracart.Error{StatusCode: 408}, ""),
		answer("200-no-access-token", 200, `{"token_type":"bearer","expires_in":"3600"}`,
			ultracart.Error{StatusCode: 200, Description: "malformed token response: no access_token"}, noConfirmation),
		answer("200-numeric-access-token", 200, `{"access_token":12}`,
			ultracart.Error{StatusCode: 200, Description: "malformed token response: no access_token"}, noConfirmation),
		answer("200-revoke-refused", 200, `{"successful":false,"message":"unknown token"}`,
			ultracart.Error{StatusCode: 200, Description: "malformed token response: no access_token"}, "unknown token"),
		answer("500-successful", 500, `{"successful":true,"access_token":"at"}`, ultracart.Error{StatusCode: 500}, ""),
	)
	// A body that would be a success, were it not too large.
	huge := `{"successful":true,"access_token":"uc-at-huge","token_type":"bearer","expires_in":"3600","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	faults = append(faults,
		matrixFault{
			name: "over-1MiB", status: http.StatusOK,
			fault: func(string) fakeuc.Fault {
				return fakeuc.Fault{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: huge}
			},
			check: func(t *testing.T, _ string, e *ultracart.Error) {
				assert.Equal(t, "response body exceeds 1 MiB", e.Description)
			},
		},
		matrixFault{
			name: "wrong-content-type", status: http.StatusBadRequest,
			fault: func(echo string) fakeuc.Fault {
				return fakeuc.Fault{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"text/html; charset=iso-8859-1"}},
					Body: `{"error":"invalid_grant","error_description":"refused: ` + echo + `"}`}
			},
			check: func(t *testing.T, _ string, e *ultracart.Error) {
				assert.ErrorIs(t, e, ultracart.ErrInvalidGrant, "the JSON is read whatever the Content-Type")
			},
		},
		matrixFault{
			name: "truncated", status: http.StatusOK, temporary: true,
			fault: func(string) fakeuc.Fault {
				return fakeuc.Fault{Truncate: true, Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
					Body: `{"successful":true,"access_token":"uc-at-trunc","token_type":"bearer","expires_in":"36`}
			},
			cause: func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
		},
		matrixFault{
			name: "reset", temporary: true,
			fault: func(string) fakeuc.Fault { return fakeuc.Fault{Reset: true} },
			cause: func(err error) bool {
				return errors.Is(err, errReset) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			},
		},
		matrixFault{
			name: "never-answers", temporary: true, hang: true,
			fault: func(string) fakeuc.Fault { return fakeuc.Fault{Delay: time.Hour} },
			cause: func(err error) bool {
				var ne net.Error
				return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
			},
		},
	)
	return faults
}

// TestFaultMatrix runs each token and revoke call against internal/fakeuc with
// every fault of the table, each cell on its own server and transport (what
// a cell checks: runMatrixCell). The operations run at once, each with its
// cells one at a time, and no other test beside them, so that goroutines
// left behind can be counted. (The device poll: TestRefusedRefreshInEnvelope.)
func TestFaultMatrix(t *testing.T) {
	faults := matrixFaults()
	checkGoroutines(t)
	for _, op := range matrixOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range faults {
				t.Run(f.name, func(t *testing.T) { runMatrixCell(t, op, f) })
			}
		})
	}
}

func runMatrixCell(t *testing.T, op matrixOp, f matrixFault) {
	srv := fakeuc.NewServer()
	t.Cleanup(srv.Close)
	srv.SetOptions(fakeuc.Options{ClientSecret: matrixClientSecret})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	if f.hang && op.clientTimeout {
		client.Timeout = matrixHang
	}
	conf := &ultracart.Config{Config: oauth2.Config{ClientID: "matrix-client", ClientSecret: matrixClientSecret, Endpoint: srv.Endpoint()}}
	cellCtx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	call, sent, after := op.prepare(cellCtx, conf)
	// The fault's texts echo every secret of the request, as sent in the
	// form and decoded, the way a careless proxy or server might.
	var echo []string
	for _, s := range sent {
		echo = append(echo, s, url.QueryEscape(s))
	}
	srv.Fail(op.path, f.fault(strings.Join(echo, " ")))

	timeout := 30 * time.Second
	if f.hang && !op.clientTimeout {
		timeout = matrixHang
	}
	ctx, cancel := context.WithTimeout(cellCtx, timeout)
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
	assert.Len(t, srv.Requests(), 1, "one request, to %s", op.path)
	if after != nil {
		after(t)
	}
	assertNoSecrets(t, err, testCode, testAccessToken, testRefreshToken, matrixClientSecret)
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
