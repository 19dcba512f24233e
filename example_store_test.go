package ultracart_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// A FileStore keeps one token in one file, written atomically with mode
// 0600 in a directory of mode 0700 that Save creates when needed. A missing
// file is ErrNoToken; a damaged one is an error that names the path and
// quotes nothing of the file.
func ExampleNewFileStore() {
	dir, err := os.MkdirTemp("", "ultracart-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "merchants", "DEMO.json")
	store := ultracart.NewFileStore(path)

	_, err = store.Load(ctx)
	fmt.Println("before the first save:", errors.Is(err, ultracart.ErrNoToken))

	tok := &oauth2.Token{AccessToken: "access", RefreshToken: "refresh", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, tok.WithExtra(map[string]any{"scope": ultracart.ScopeItemRead})); err != nil {
		fmt.Println(err)
		return
	}
	info, err := os.Stat(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("file mode:", info.Mode().Perm())
	loaded, err := store.Load(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("loaded:", loaded.RefreshToken == tok.RefreshToken, "scope:", loaded.Extra("scope"))

	if err := os.WriteFile(path, []byte(`{"access_token": "acc`), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Load(ctx)
	fmt.Println(strings.ReplaceAll(err.Error(), path, "DEMO.json"))
	// Output:
	// before the first save: true
	// file mode: -rw-------
	// loaded: true scope: item_read
	// ultracart: the token file DEMO.json is corrupt: unexpected end of JSON input
}

// A MemoryStore keeps one token in memory: for tests, and for programs that
// keep tokens by other means. PersistentTokenSource saves each refreshed
// token into it.
func ExampleMemoryStore() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}

	var store ultracart.MemoryStore // the zero value is an empty store
	_, err := ultracart.PersistentTokenSource(ctx, conf, &store).Token()
	fmt.Println("empty:", errors.Is(err, ultracart.ErrNoToken))

	old := uc.IssueToken(ultracart.ScopeItemRead)
	old.Expiry = time.Now().Add(-time.Minute) // expired
	if err := store.Save(ctx, old); err != nil {
		fmt.Println(err)
		return
	}
	tok, err := ultracart.PersistentTokenSource(ctx, conf, &store).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	saved, err := store.Load(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refreshed:", tok.AccessToken != old.AccessToken)
	fmt.Println("saved:", saved.AccessToken == tok.AccessToken, saved.RefreshToken == tok.RefreshToken)
	// Output:
	// empty: true
	// refreshed: true
	// saved: true true
}
