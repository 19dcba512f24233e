package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// errLoginTimeout is the cause of the login context when --timeout passes.
var errLoginTimeout = errors.New("login timed out")

// runLogin is the login command: the browser flow, or the device flow with
// --device. Either way the token ends up in the token file.
func runLogin(ctx context.Context, o *options, e *env) error {
	if o.noBrowser {
		e.browser = nil
	}
	// Before anyone approves anything: an approval is lost if the token
	// cannot be saved.
	if err := checkWritable(o.tokenFile); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(withHTTPClient(ctx), o.timeout, errLoginTimeout)
	defer cancel()

	var saved *oauth2.Token
	save := func(tok *oauth2.Token) error {
		// Under the token file's lock, so that no refresh in another
		// process overwrites the new token with one of the old grant.
		store := e.store(o.tokenFile)
		err := waitForLock(ctx, e, o.tokenFile, func(ctx context.Context) error {
			unlock, err := store.Lock(ctx)
			if err != nil {
				return err
			}
			defer unlock()
			if err := saveClientFile(o.appFile, clientSettings{ClientID: o.clientID, Endpoint: o.endpoint}); err != nil {
				return err
			}
			return store.Save(ctx, tok)
		})
		if err != nil {
			return fmt.Errorf("saving the token: %w", err)
		}
		saved = tok
		return nil
	}
	prev, _ := loadClientFile(o.appFile) // parseFlags read it: no error
	var err error
	if o.device {
		err = deviceLogin(ctx, o.config(), e, save)
	} else {
		err = browserLogin(ctx, o.config(), e, save)
	}
	switch {
	case err == nil:
	case errors.Is(context.Cause(ctx), errLoginTimeout):
		return fmt.Errorf("login: no authorization within %v; run login again (or raise --timeout)", o.timeout)
	case ctx.Err() != nil:
		return errors.New("login: interrupted")
	default:
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(e.stderr, "Authorized. Token saved to %s (expires %s, scope %s, refresh: %s).\n",
		o.tokenFile, untilText(saved.Expiry, time.Now()), scopeText(saved), yesNo(saved.RefreshToken != ""))
	if prev.ClientID != "" && (prev.ClientID != o.clientID || orDefault(prev.Endpoint) != o.endpointURL()) {
		fmt.Fprintf(e.stderr, "Remembered for every profile: client id %q with endpoint %s, instead of %q with %s; "+
			"a profile logged in with the former needs to log in again.\n", o.clientID, o.endpointURL(), prev.ClientID, orDefault(prev.Endpoint))
	}
	return nil
}

// browserLogin runs the authorization code flow: a callback server on the
// loopback interface, the authorize URL for the person at the terminal, then
// ParseCallback, Exchange and save in the callback, whose page tells the
// outcome. It returns when the callback has been handled or ctx is done,
// after shutting the callback server down.
func browserLogin(ctx context.Context, conf *ultracart.Config, e *env, save func(*oauth2.Token) error) error {
	ln, redirect, path, err := listenCallback(conf.RedirectURL)
	if err != nil {
		return err
	}
	conf.RedirectURL = redirect
	state, probe := ultracart.NewState(), ultracart.NewState()
	e.redact.add(probe)

	// Only the redirect with this login's state ends it: anything else on
	// the machine can send a request to the callback.
	done := make(chan error, 1)
	var mu sync.Mutex
	finished := false
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if q := r.URL.Query(); !q.Has("state") && !q.Has("code") && !q.Has("error") {
			page(w, http.StatusBadRequest, "This is the callback of ultracart-token login: open the authorize URL it printed.")
			return
		}
		code, err := ultracart.ParseCallback(r, state)
		e.redact.add(code)
		if errors.Is(err, ultracart.ErrStateMismatch) {
			page(w, http.StatusBadRequest, "This redirect does not belong to the login in progress (its state does not match); the login keeps waiting.")
			return
		}
		mu.Lock()
		first := !finished
		finished = true
		mu.Unlock()
		if !first {
			page(w, http.StatusConflict, "This login has already finished. You can close this window.")
			return
		}
		err = finishCallback(ctx, conf, code, err, save)
		if err != nil {
			page(w, http.StatusBadRequest, "Authorization failed: "+e.redact.clean(message(err)))
		} else {
			page(w, http.StatusOK, "Authorized. You can close this window.")
		}
		done <- err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(handler),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // http.ErrServerClosed after Shutdown
	}()
	defer func() {
		// Let a callback in progress finish its page, then stop.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-served
	}()

	if err := checkAuthorize(ctx, conf, probe); err != nil {
		return err
	}
	authURL := conf.AuthCodeURL(state)
	fmt.Fprintf(e.stderr, "Open this URL to authorize: %s\n", authURL)
	e.redact.add(state) // from now on: the person needs it in the URL alone
	if e.browser != nil {
		e.browser(authURL)
	}
	fmt.Fprintf(e.stderr, "Waiting for the redirect to %s (Ctrl-C to cancel)...\n", redirect)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err() // runLogin says why
	}
}

// finishCallback handles UltraCart's redirect, which ParseCallback read
// into code and err: it exchanges the code and saves the token.
func finishCallback(ctx context.Context, conf *ultracart.Config, code string, err error, save func(*oauth2.Token) error) error {
	switch {
	case errors.Is(err, ultracart.ErrAccessDenied):
		return fmt.Errorf("authorization denied (%w)", err)
	case errors.Is(err, ultracart.ErrInvalidRequest):
		return fmt.Errorf("the authorize link has expired or is invalid (%w); run login again", err)
	case err != nil:
		return err
	}
	tok, err := conf.Exchange(ctx, code)
	if err != nil {
		return fmt.Errorf("exchanging the authorization code: %w", err)
	}
	return save(tok)
}

// checkAuthorize opens the authorize link once without a browser and
// without following its redirect, with a state of its own (state), so that a link
// UltraCart refuses (an unknown client id, a wrong endpoint) fails the login
// at once instead of after the whole --timeout. A page or a redirect is
// what a good link gives; the person at the browser does the rest.
func checkAuthorize(ctx context.Context, conf *ultracart.Config, state string) error {
	authURL := conf.Endpoint.AuthURL
	if authURL == "" {
		authURL = ultracart.Endpoint.AuthURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, conf.AuthCodeURL(state), nil)
	if err != nil {
		return err
	}
	req.Header.Set(ultracart.APIVersionHeader, ultracart.APIVersion)
	client := &http.Client{
		Timeout:       httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, state and all
		}
		return fmt.Errorf("cannot reach UltraCart's authorize link at %s: %w", authURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 400 {
		return nil
	}
	if err := ultracart.CheckResponse(resp); err != nil {
		return fmt.Errorf("UltraCart refused the authorize link %s for client id %q: %w; check --client-id and --endpoint", authURL, conf.ClientID, err)
	}
	return nil
}

// listenCallback listens where the redirect URL points, or on a random port
// of 127.0.0.1 when it is empty. It returns the listener, the redirect URL
// to send and the path the callback arrives at.
func listenCallback(redirect string) (ln net.Listener, redirectURL, path string, err error) {
	if redirect == "" {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", "", fmt.Errorf("cannot start the callback server: %w", err)
		}
		return ln, "http://" + ln.Addr().String() + "/callback", "/callback", nil
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) || u.Fragment != "" {
		return nil, "", "", usageError{"--redirect-url must be an http URL on this machine, such as http://127.0.0.1:8765/callback"}
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	ln, err = net.Listen("tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, "", "", fmt.Errorf("cannot start the callback server: %w", err)
	}
	path = u.Path
	if path == "" {
		path = "/"
	}
	return ln, redirect, path, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// page answers the browser with a one-line HTML page.
func page(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<title>ultracart-token</title>\n<p>%s</p>\n", html.EscapeString(msg))
}

// deviceLogin runs the device flow (RFC 8628).
func deviceLogin(ctx context.Context, conf *ultracart.Config, e *env, save func(*oauth2.Token) error) error {
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("starting the device flow: %w", err)
	}
	e.redact.add(da.DeviceCode)
	fmt.Fprintf(e.stderr, "Visit %s and enter code %s\n", da.VerificationURI, da.UserCode)
	if e.browser != nil {
		if da.VerificationURIComplete != "" {
			e.browser(da.VerificationURIComplete)
		} else {
			e.browser(da.VerificationURI)
		}
	}
	fmt.Fprintln(e.stderr, "Waiting for the approval (Ctrl-C to cancel)...")
	tok, err := conf.DeviceAccessToken(ctx, da)
	var ue *ultracart.Error
	switch {
	case errors.Is(err, ultracart.ErrAccessDenied):
		return fmt.Errorf("authorization denied (%w)", err)
	case errors.As(err, &ue) && ue.Code == "expired_token", ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return errors.New("the code expired before it was approved; run login --device again")
	case err != nil:
		return fmt.Errorf("waiting for the approval: %w", err)
	}
	return save(tok)
}

// openBrowser tries to open u in the user's browser; failures are ignored,
// since the URL is printed too.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if cmd.Start() == nil {
		go func() { _ = cmd.Wait() }()
	}
}
