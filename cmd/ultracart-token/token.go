package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// runToken is the token command: a valid access token on stdout and
// nothing else. With --refresh it refreshes the token first, even when it
// looks valid. A token whose expiry is unknown is said so on stderr: it
// may be dead already, and --refresh replaces it.
// tokenMinLife is the least lifetime left of a token that the token command
// prints as it is.
const tokenMinLife = time.Minute

func runToken(ctx context.Context, o *options, e *env) error {
	warnReadable(e, o.tokenFile)
	ctx = withHTTPClient(ctx)
	conf := o.config()
	// A short-lived program: no refresh in the background, which its exit
	// would cut off after UltraCart rotated the refresh token; instead, a
	// token with less than tokenMinLife left is refreshed before it is
	// printed, so that a script has time to use it.
	src := ultracart.PersistentTokenSourceWithOptions(ctx, &conf.Config, e.store(o.tokenFile),
		&ultracart.PersistentOptions{EarlyExpiry: tokenMinLife, RefreshAhead: -1})
	tok, err := src.Token()
	if err == nil && o.refresh {
		// As if UltraCart had rejected it: the source refreshes it, under
		// the file's lock, unless another process saved a new one.
		src.(ultracart.Invalidator).Invalidate(tok)
		tok, err = src.Token()
	}
	if err != nil {
		return tokenError(err, o)
	}
	if tok.Expiry.IsZero() {
		fmt.Fprintln(e.stderr, "ultracart-token: the token's expiry is unknown (UltraCart gave no lifetime); if UltraCart rejects it, run `ultracart-token token --refresh`")
	}
	fmt.Fprintln(e.tokenOut, tok.AccessToken)
	return nil
}

// runStatus is the status command. It reads the token file and what login
// remembered beside it only: no request, no refresh, and never the token
// itself on the output. With --json it prints a statusJSON, logged out too.
func runStatus(ctx context.Context, o *options, e *env) error {
	warnReadable(e, o.tokenFile)
	st := statusJSON{TokenFile: o.tokenFile, Merchant: o.merchant, Merchants: merchants()}
	if st.Merchants == nil {
		st.Merchants = []string{}
	}
	if o.clientID != "" {
		st.ClientID, st.Endpoint = o.clientID, o.endpointURL()
	}
	tok, err := e.store(o.tokenFile).Load(ctx)
	if err != nil {
		err = tokenError(err, o)
		if o.json {
			st.Error = message(err)
			writeJSON(e, st)
		}
		return err
	}
	now := time.Now()
	st.LoggedIn = true
	st.Scope = scopeText(tok)
	st.Refreshable = tok.RefreshToken != ""
	if !tok.Expiry.IsZero() {
		expiry := tok.Expiry.UTC().Truncate(time.Second)
		st.Expiry = &expiry
		st.Expired = !tok.Expiry.After(now)
	}
	if o.json {
		writeJSON(e, st)
		return nil
	}
	expires := "unknown (UltraCart gave no lifetime)"
	if !tok.Expiry.IsZero() {
		expires = tok.Expiry.Format(time.RFC3339) + " (" + untilText(tok.Expiry, now) + ")"
	}
	client, endpoint := st.ClientID, st.Endpoint
	if client == "" {
		client, endpoint = "not remembered: pass --client-id to token and revoke (or log in again)", "not remembered"
	}
	fmt.Fprintf(e.stdout, "token file: %s\n", o.tokenFile)
	if o.merchant != "" {
		fmt.Fprintf(e.stdout, "merchant:   %s\n", o.merchant)
	}
	fmt.Fprintf(e.stdout, "client id:  %s\nendpoint:   %s\nexpires:    %s\nscope:      %s\nrefresh:    %s\n",
		client, endpoint, expires, st.Scope, yesNo(st.Refreshable))
	if len(st.Merchants) > 0 {
		fmt.Fprintf(e.stdout, "merchants:  %s (pick one with --merchant NAME)\n", strings.Join(st.Merchants, ", "))
	}
	return nil
}

// statusJSON is the output of status --json. It never holds a secret.
type statusJSON struct {
	LoggedIn    bool       `json:"logged_in"`   // a token is stored (it may have expired)
	Merchant    string     `json:"merchant"`    // the --merchant profile; "" for the default
	TokenFile   string     `json:"token_file"`  // the token file's path
	ClientID    string     `json:"client_id"`   // the client id token would use; "" if none
	Endpoint    string     `json:"endpoint"`    // its REST API base URL; "" if none
	Expiry      *time.Time `json:"expiry"`      // the access token's expiry; null when unknown
	Expired     bool       `json:"expired"`     // the access token has expired
	Scope       string     `json:"scope"`       // the scope granted, "unknown" when not known
	Refreshable bool       `json:"refreshable"` // a refresh token is stored
	Merchants   []string   `json:"merchants"`   // the merchant profiles that have a token file
	Error       string     `json:"error,omitempty"`
}

func writeJSON(e *env, v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// otherProfiles lists, as flags, the profiles other than the current one.
func otherProfiles(names []string, current string) string {
	var flags []string
	for _, n := range names {
		if n != current {
			flags = append(flags, "--merchant "+n)
		}
	}
	return strings.Join(flags, ", ")
}

// runRevoke is the revoke command: revokeToken, then with --forget-client
// it forgets the client id and endpoint login remembered, also when there
// was no token to revoke.
func runRevoke(ctx context.Context, o *options, e *env) error {
	warnReadable(e, o.tokenFile)
	err := revokeToken(ctx, o, e)
	if !o.forgetClient || (err != nil && !errors.Is(err, errNoToken)) {
		return err
	}
	if err := removeClientFile(o.appFile); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Forgot client id %q and its endpoint %s; the next login needs --client-id (and --endpoint)\n", o.clientID, o.endpointURL())
	return nil
}

// revokeToken revokes the grant at UltraCart by its access token
// (refreshed first if it has expired, since UltraCart revokes by access
// token), then removes the token file under its lock. When UltraCart no
// longer knows the grant, the file is removed all the same. What login
// remembered stays, for the next login of any profile.
func revokeToken(ctx context.Context, o *options, e *env) error {
	ctx = withHTTPClient(ctx)
	conf := o.config()
	if err := awaitLock(ctx, e, o.tokenFile); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	tok, err := ultracart.PersistentTokenSource(ctx, &conf.Config, e.store(o.tokenFile)).Token()
	if errors.Is(err, ultracart.ErrInvalidGrant) {
		if err := removeTokenFile(ctx, e, o.tokenFile); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "The authorization had already expired or been revoked at UltraCart; removed %s\n", o.tokenFile)
		return nil
	}
	if err != nil {
		return tokenError(err, o)
	}
	if err := ultracart.Revoke(ctx, &conf.Config, tok.AccessToken); err != nil {
		var ue *ultracart.Error
		if !errors.As(err, &ue) || ue.StatusCode < 200 || ue.StatusCode > 299 {
			return fmt.Errorf("revoke: %w (the token file %s was kept)", unreachable(err), o.tokenFile)
		}
		// UltraCart answered but revoked nothing: it no longer knows the token.
		if err := removeTokenFile(ctx, e, o.tokenFile); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "UltraCart no longer knew the token (%v); removed %s\n", err, o.tokenFile)
		return nil
	}
	if err := removeTokenFile(ctx, e, o.tokenFile); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked at UltraCart; removed %s\n", o.tokenFile)
	return nil
}

// removeTokenFile removes the token file under its lock (the lock file
// stays).
func removeTokenFile(ctx context.Context, e *env, path string) error {
	store := ultracart.NewFileStore(path)
	if err := waitForLock(ctx, e, path, store.Remove); err != nil {
		return fmt.Errorf("removing the token file: %w", err)
	}
	return nil
}

// store is the token file at path, whose tokens the redactor learns as
// they are read and written.
func (e *env) store(path string) fileStore {
	return fileStore{ultracart.NewFileStore(path), e.redact}
}

type fileStore struct {
	*ultracart.FileStore
	redact *redactor
}

func (s fileStore) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.FileStore.Load(ctx)
	s.redact.addToken(tok)
	return tok, err
}

func (s fileStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.redact.addToken(tok)
	return s.FileStore.Save(ctx, tok)
}

// warnReadable warns on stderr, as ssh does for keys, when others can read
// or change the token file.
func warnReadable(e *env, path string) {
	fi, err := os.Stat(path)
	if err != nil || runtime.GOOS == "windows" || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(e.stderr, "ultracart-token: warning: others can read the token file %s (mode %04o); run: chmod 600 %s\n",
		path, fi.Mode().Perm(), shellQuote(path))
}

// awaitLock waits, saying so, until no other process holds the lock of the
// token file at path, whose holder is refreshing or saving it.
func awaitLock(ctx context.Context, e *env, path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil // no token to wait for; the command says so
	}
	store := ultracart.NewFileStore(path)
	return waitForLock(ctx, e, path, func(ctx context.Context) error {
		unlock, err := store.Lock(ctx)
		if err == nil {
			unlock()
		}
		return err
	})
}

// lockNotice is how long a command waits for the token file's lock before
// it says that another process holds it.
const lockNotice = 200 * time.Millisecond

// waitForLock runs locked, which takes the lock of the token file at path
// and waits for it until its context is done; when the lock is not free at
// once, it says so on stderr and keeps waiting until ctx is done.
func waitForLock(ctx context.Context, e *env, path string, locked func(context.Context) error) error {
	short, cancel := context.WithTimeout(ctx, lockNotice)
	err := locked(short)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintf(e.stderr, "Waiting for another process to release %s.lock (Ctrl-C to cancel)...\n", path)
	return locked(ctx)
}

// tokenError explains an error of loading, refreshing or saving the token
// in the token file of o; its hints give the login of that profile.
func tokenError(err error, o *options) error {
	path, login := o.tokenFile, o.loginCommand()
	switch {
	case errors.Is(err, ultracart.ErrNoToken), errors.Is(err, fs.ErrNotExist):
		others := ""
		if names := otherProfiles(merchants(), o.merchant); names != "" {
			others = " (other profiles: " + names + ")"
		}
		return fmt.Errorf("no token in %s; run `%s` first%s%w", path, login, others, errNoToken)
	case errors.Is(err, ultracart.ErrInvalidGrant):
		return fmt.Errorf("the authorization in %s has expired or was revoked (%w); run `%s` again", path, err, login)
	case errors.Is(err, ultracart.ErrPersist):
		return fmt.Errorf("a new token could not be saved to %s: %w", path, err)
	}
	// A file that exists but holds no token: say how to get out of it.
	if _, lerr := ultracart.NewFileStore(path).Load(context.Background()); lerr != nil &&
		!errors.Is(lerr, ultracart.ErrNoToken) && !errors.As(lerr, new(*fs.PathError)) {
		return fmt.Errorf("%w; run `%s` again to replace it, or remove it", lerr, login)
	}
	return unreachable(err)
}

// errNoToken marks the error of tokenError for a missing token; its text is
// empty, so that it adds nothing to the message.
var errNoToken = errors.New("")

// unreachable says so when err is a request to UltraCart that got no answer.
func unreachable(err error) error {
	var ue *ultracart.Error
	if errors.As(err, &ue) && ue.StatusCode == 0 && ue.Code == "" {
		return fmt.Errorf("cannot reach UltraCart: %w", err)
	}
	return err
}

// untilText tells how far t is from now: "in 59m", "expired 2h3m ago".
func untilText(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	if d := t.Sub(now); d > 0 {
		return "in " + shortDuration(d)
	}
	return "expired " + shortDuration(now.Sub(t)) + " ago"
}

// shortDuration writes d in whole minutes ("1h5m", "59m"), or in seconds
// under a minute.
func shortDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if h == 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// scopeText is the scope UltraCart granted, when the token still knows it.
func scopeText(tok *oauth2.Token) string {
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		return s
	}
	return "unknown"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
