package ultracart_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// A merchant's token kept in a file: the refreshed (and rotated) token is
// saved before it is used, so that a restarted program, or another replica
// sharing the file, carries on without asking the merchant to authorize
// again.
func ExamplePersistentTokenSource() {
	srv := ultracarttest.NewServer() // a fake UltraCart; rotates refresh tokens
	defer srv.Close()
	dir, err := os.MkdirTemp("", "ultracart-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: srv.Endpoint()}
	path := filepath.Join(dir, "merchants", "demo.json")
	store := ultracart.NewFileStore(path)

	// Before the merchant authorizes, there is nothing to load.
	_, err = ultracart.PersistentTokenSource(ctx, conf, store).Token()
	fmt.Println("before authorizing:", errors.Is(err, ultracart.ErrNoToken))

	// The callback of the authorization flow saves the token. Here the fake
	// server issues it, already expired.
	tok := srv.IssueToken(ultracarttest.DefaultScope)
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := store.Save(ctx, tok); err != nil {
		fmt.Println(err)
		return
	}

	// The source refreshes the expired token and saves the new one first.
	client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
	resp, err := client.Get(srv.URL + ultracarttest.ItemsPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("items:", resp.Status)
	saved, err := store.Load(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("saved a rotated refresh token:", saved.RefreshToken != tok.RefreshToken)

	// After a restart, a new source over the same file uses the saved token:
	// no refresh, and the old refresh token, now dead, is never sent.
	restarted := ultracart.PersistentTokenSource(ctx, conf, ultracart.NewFileStore(path))
	again, err := restarted.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after a restart, the saved token:", again.AccessToken == saved.AccessToken)
	resp, err = ultracart.NewClient(ctx, restarted).Get(srv.URL + ultracarttest.ItemsPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("items:", resp.Status)

	// Output:
	// before authorizing: true
	// items: 200 OK
	// saved a rotated refresh token: true
	// after a restart, the saved token: true
	// items: 200 OK
}
