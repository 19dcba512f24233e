package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// runToken is the token command: a valid access token on stdout and
// nothing else. With --refresh it refreshes the token first, even when it
// looks valid. A token whose expiry is unknown is said so on stderr: it
// may be dead already, and --refresh replaces it.
func runToken(ctx context.Context, o *options, e *env) error {
	ctx = withHTTPClient(ctx)
	conf := o.config()
	src := ultracart.PersistentTokenSource(ctx, &conf.Config, ultracart.NewFileStore(o.tokenFile))
	tok, err := src.Token()
	if err == nil && o.refresh {
		// As if UltraCart had rejected it: the source refreshes it, under
		// the file's lock, unless another process saved a new one.
		src.(ultracart.Invalidator).Invalidate(tok)
		tok, err = src.Token()
	}
	if err != nil {
		return tokenError(err, o.tokenFile)
	}
	if tok.Expiry.IsZero() {
		fmt.Fprintln(e.stderr, "ultracart-token: the token's expiry is unknown (UltraCart gave no lifetime); if UltraCart rejects it, run `ultracart-token token --refresh`")
	}
	fmt.Fprintln(e.stdout, tok.AccessToken)
	return nil
}

// runStatus is the status command. It reads the token file only: no
// request, no refresh, and never the token itself on the output.
func runStatus(ctx context.Context, o *options, e *env) error {
	tok, err := ultracart.NewFileStore(o.tokenFile).Load(ctx)
	if err != nil {
		return tokenError(err, o.tokenFile)
	}
	now := time.Now()
	expires := "unknown (UltraCart gave no lifetime)"
	if !tok.Expiry.IsZero() {
		expires = tok.Expiry.Format(time.RFC3339) + " (" + untilText(tok.Expiry, now) + ")"
	}
	scope := scopeText(tok)
	fmt.Fprintf(e.stdout, "token file: %s\nexpires:    %s\nscope:      %s\nrefresh:    %s\n",
		o.tokenFile, expires, scope, yesNo(tok.RefreshToken != ""))
	return nil
}

// runRevoke is the revoke command: it revokes the grant at UltraCart by its
// access token (refreshed first if it has expired, since UltraCart revokes
// by access token), then removes the token file. When UltraCart no longer
// knows the grant, the file is removed all the same.
func runRevoke(ctx context.Context, o *options, e *env) error {
	ctx = withHTTPClient(ctx)
	conf := o.config()
	tok, err := ultracart.PersistentTokenSource(ctx, &conf.Config, ultracart.NewFileStore(o.tokenFile)).Token()
	if errors.Is(err, ultracart.ErrInvalidGrant) {
		if err := removeTokenFile(o.tokenFile); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "The authorization had already expired or been revoked at UltraCart; removed %s\n", o.tokenFile)
		return nil
	}
	if err != nil {
		return tokenError(err, o.tokenFile)
	}
	if err := ultracart.Revoke(ctx, &conf.Config, tok.AccessToken); err != nil {
		var ue *ultracart.Error
		if !errors.As(err, &ue) || ue.StatusCode < 200 || ue.StatusCode > 299 {
			return fmt.Errorf("revoke: %w (the token file %s was kept)", unreachable(err), o.tokenFile)
		}
		// UltraCart answered but revoked nothing: it no longer knows the token.
		if err := removeTokenFile(o.tokenFile); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "UltraCart no longer knew the token (%v); removed %s\n", err, o.tokenFile)
		return nil
	}
	if err := removeTokenFile(o.tokenFile); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked at UltraCart; removed %s\n", o.tokenFile)
	return nil
}

// removeTokenFile removes the token file and the lock file beside it.
func removeTokenFile(path string) error {
	for _, p := range []string{path, path + ".lock"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the token file: %w", err)
		}
	}
	return nil
}

// tokenError explains an error of loading, refreshing or saving the token
// in the token file at path.
func tokenError(err error, path string) error {
	switch {
	case errors.Is(err, ultracart.ErrNoToken), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no token in %s; run `ultracart-token login` first", path)
	case errors.Is(err, ultracart.ErrInvalidGrant):
		return fmt.Errorf("the authorization in %s has expired or was revoked (%w); run `ultracart-token login` again", path, err)
	case errors.Is(err, ultracart.ErrPersist):
		return fmt.Errorf("a new token could not be saved to %s: %w", path, err)
	}
	return unreachable(err)
}

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
