package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// runDemo is the demo command: the whole story against an embedded fake
// UltraCart, with no account and no network. It runs the login and revoke
// commands themselves, and the package's token source and client between
// them, and prints one line per step; only the fake's URL and the temporary
// token file's path change from run to run.
func runDemo(ctx context.Context, _ *options, e *env) error {
	fake := ultracarttest.NewServer()
	defer fake.Close()
	dir, err := os.MkdirTemp("", "ultracart-token-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	o := &options{
		clientID:  "demo-client",
		endpoint:  fake.URL + "/rest/v2",
		tokenFile: filepath.Join(dir, "token.json"),
		appFile:   filepath.Join(dir, "token.client.json"),
		timeout:   30 * time.Second,
	}
	conf := &o.config().Config
	store := ultracart.NewFileStore(o.tokenFile)
	ctx = withHTTPClient(ctx)
	out := e.stdout
	fmt.Fprintf(out, "demo: a fake UltraCart at %s; no account, no network\n", fake.URL)

	// 1. The login command, with a stand-in browser that follows the
	// authorize link, which the fake approves, to the callback server.
	if err := demoLogin(ctx, o); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "1. login: the fake approved %s; token saved to %s\n", o.clientID, o.tokenFile)

	// 2. A REST call with the Bearer client over the stored token.
	client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
	n, err := demoItems(ctx, client, fake.URL)
	if err != nil {
		return fmt.Errorf("demo: api: %w", err)
	}
	fmt.Fprintf(out, "2. api: GET %s → 200, %d items\n", ultracarttest.ItemsPath, n)

	// 3. The access token expires, at UltraCart and in the file; the next
	// run refreshes it and saves the rotated refresh token.
	before, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fake.ExpireAccessTokens()
	expired := *before
	expired.Expiry = time.Now().Add(-time.Minute)
	if err := store.Save(ctx, &expired); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	refreshes := fake.Stats().Refresh
	client = ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
	if _, err := demoItems(ctx, client, fake.URL); err != nil {
		return fmt.Errorf("demo: api after expiry: %w", err)
	}
	after, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "3. expiry: access token expired; refreshed %s, rotated refresh token saved (changed: %s)\n",
		times(fake.Stats().Refresh-refreshes), yesNo(after.RefreshToken != before.RefreshToken))

	// 4. A fresh start: a new token source knows only the file.
	src := ultracart.PersistentTokenSource(ctx, conf, ultracart.NewFileStore(o.tokenFile))
	client = ultracart.NewClient(ctx, src)
	if _, err := demoItems(ctx, client, fake.URL); err != nil {
		return fmt.Errorf("demo: api after restart: %w", err)
	}
	fmt.Fprintln(out, "4. restart: a new token source reloaded the token from the file; api → 200")

	// 5. The revoke command; the token it revoked no longer works.
	if err := runRevoke(ctx, o, &env{stdout: io.Discard, stderr: io.Discard}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := os.Stat(o.tokenFile); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("demo: revoke: the token file is still there")
	}
	// The API answers 401; the client then looks for a new token in the
	// store, finds none, and says so.
	_, err = demoItems(ctx, client, fake.URL)
	var ue *ultracart.Error
	if !errors.Is(err, ultracart.ErrNoToken) && (!errors.As(err, &ue) || ue.StatusCode != http.StatusUnauthorized) {
		return fmt.Errorf("demo: api after revoke: want 401, got %v", err)
	}
	fmt.Fprintln(out, "5. revoke: revoked at UltraCart; token file removed; api → 401")
	fmt.Fprintln(out, "demo: done")
	return nil
}

// demoLogin runs the login command with a stand-in browser: an HTTP client
// that opens the authorize link and follows its redirect to the callback.
func demoLogin(ctx context.Context, o *options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var browseErr error
	browser := func(u string) {
		wg.Go(func() {
			browseErr = visit(ctx, u)
			if browseErr != nil {
				cancel() // no callback will come
			}
		})
	}
	err := runLogin(ctx, o, &env{stdout: io.Discard, stderr: io.Discard, browser: browser})
	wg.Wait()
	if browseErr != nil && (err == nil || ctx.Err() != nil) {
		return fmt.Errorf("login: opening the authorize link: %w", browseErr)
	}
	return err
}

// visit opens u as a browser would, following redirects.
func visit(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the callback page answered %s", resp.Status)
	}
	return nil
}

// demoItems lists the fake's items with client and returns their number.
func demoItems(ctx context.Context, client *http.Client, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+ultracarttest.ItemsPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := ultracart.CheckResponse(resp); err != nil {
		return 0, err
	}
	var body struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decoding the items: %w", err)
	}
	return len(body.Items), nil
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}
