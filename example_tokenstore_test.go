package ultracart_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// tokenTable stands in for a database table with one row per merchant:
// merchant id, token JSON and the granted scope. A real table is read with
// SELECT and written with an upsert, and a row is locked with SELECT … FOR
// UPDATE or an advisory lock.
type tokenTable struct {
	mu    sync.Mutex
	rows  map[string]tokenRow
	locks map[string]chan struct{}
}

type tokenRow struct {
	token []byte // the JSON of an oauth2.Token
	scope string // oauth2.Token keeps the scope among its extras, which JSON drops
}

// merchantStore is the TokenStore (and Locker) of one merchant's row.
type merchantStore struct {
	table    *tokenTable
	merchant string
}

func (s merchantStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.table.mu.Lock()
	row, ok := s.table.rows[s.merchant]
	s.table.mu.Unlock()
	if !ok {
		// Wrap ErrNoToken, so that callers can tell "not authorized yet".
		return nil, fmt.Errorf("tokens: merchant %s: %w", s.merchant, ultracart.ErrNoToken)
	}
	var tok oauth2.Token
	if err := json.Unmarshal(row.token, &tok); err != nil {
		// Name the row, never its content: it holds secrets.
		return nil, fmt.Errorf("tokens: merchant %s: the stored token is corrupt", s.merchant)
	}
	return tok.WithExtra(map[string]any{"scope": row.scope}), nil
}

func (s merchantStore) Save(ctx context.Context, tok *oauth2.Token) error {
	b, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("tokens: merchant %s: encoding the token failed", s.merchant)
	}
	scope, _ := tok.Extra("scope").(string)
	s.table.mu.Lock()
	defer s.table.mu.Unlock()
	if old, ok := s.table.rows[s.merchant]; ok && scope == "" {
		scope = old.scope // a refresh response may leave the scope out
	}
	s.table.rows[s.merchant] = tokenRow{token: b, scope: scope}
	return nil
}

// Lock makes PersistentTokenSources in several processes that share the
// row refresh it once per expiry. It waits until ctx is done at most.
func (s merchantStore) Lock(ctx context.Context) (unlock func(), err error) {
	s.table.mu.Lock()
	l, ok := s.table.locks[s.merchant]
	if !ok {
		l = make(chan struct{}, 1)
		s.table.locks[s.merchant] = l
	}
	s.table.mu.Unlock()
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("tokens: merchant %s: %w", s.merchant, ctx.Err())
	}
	var once sync.Once
	return func() { once.Do(func() { <-l }) }, nil
}

// A TokenStore of your own: a database row per merchant, with the row lock
// as its Locker.
func ExampleTokenStore() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}
	table := &tokenTable{rows: map[string]tokenRow{}, locks: map[string]chan struct{}{}}

	// The authorization callback saves the merchant's first token (expired
	// here, so that the source must refresh it).
	first := uc.IssueToken(ultracart.ScopeItemRead)
	first.Expiry = time.Now().Add(-time.Minute)
	if err := (merchantStore{table, "DEMO"}).Save(ctx, first); err != nil {
		fmt.Println(err)
		return
	}

	// Two replicas share the row: the first refreshes and saves, the second
	// adopts the saved token instead of refreshing again.
	a := ultracart.PersistentTokenSource(ctx, conf, merchantStore{table, "DEMO"})
	b := ultracart.PersistentTokenSource(ctx, conf, merchantStore{table, "DEMO"})
	ta, err := a.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	tb, err := b.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refreshed:", ta.AccessToken != first.AccessToken)
	fmt.Println("one refresh for both:", ta.AccessToken == tb.AccessToken)
	fmt.Println("scope kept:", tb.Extra("scope"))

	_, err = ultracart.PersistentTokenSource(ctx, conf, merchantStore{table, "OTHER"}).Token()
	fmt.Println(err)
	// Output:
	// refreshed: true
	// one refresh for both: true
	// scope kept: item_read
	// tokens: merchant OTHER: ultracart: no token stored; run the authorization flow first
}
