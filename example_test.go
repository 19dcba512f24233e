package ultracart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// authorize plays the merchant's browser: it follows the authorize link on
// the fake server and returns the redirect back to the application.
func authorize(link string) *http.Request {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(link)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	return httptest.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
}

// listItems calls UltraCart's item API and returns the status and the
// number of items.
func listItems(client *http.Client, baseURL string) (string, int) {
	resp, err := client.Get(baseURL + ultracarttest.ItemsPath)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	var body struct {
		Items []json.RawMessage `json:"items"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.Status, len(body.Items)
}

func ExampleConfig_AuthCodeURL() {
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID:    "my-client-id",
		RedirectURL: "https://app.example/oauth/callback",
		Scopes:      []string{ultracart.ScopeItemRead, ultracart.ScopeOrderRead},
	}}
	// In a real application the state comes from ultracart.NewState and is
	// kept in the merchant's session.
	fmt.Println(conf.AuthCodeURL("state-from-NewState"))

	// When the application profile at UltraCart fixes the redirect URI:
	conf.PreconfiguredRedirect = true
	fmt.Println(conf.AuthCodeURL("state-from-NewState"))
	// Output:
	// https://secure.ultracart.com/rest/v2/oauth/authorize?client_id=my-client-id&redirect_uri=https%3A%2F%2Fapp.example%2Foauth%2Fcallback&response_type=code&scope=item_read+order_read&state=state-from-NewState
	// https://secure.ultracart.com/rest/v2/oauth/authorize?client_id=my-client-id&response_type=code&scope=item_read+order_read&state=state-from-NewState
}

func ExampleConfig_Exchange() {
	uc := ultracarttest.NewServer() // stands in for secure.ultracart.com
	defer uc.Close()

	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID:    "my-client-id",
		RedirectURL: "https://app.example/oauth/callback",
		Endpoint:    uc.Endpoint(), // leave Endpoint zero to use UltraCart's
	}}
	state := ultracart.NewState()
	callback := authorize(conf.AuthCodeURL(state)) // the merchant approves

	code, err := ultracart.ParseCallback(callback, state)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := conf.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("type:", tok.Type())
	fmt.Println("can refresh:", tok.RefreshToken != "")
	fmt.Println("expires in about an hour:", time.Until(tok.Expiry).Round(time.Minute))

	// A code is single-use.
	_, err = conf.Exchange(context.Background(), code)
	fmt.Println("second use:", errors.Is(err, ultracart.ErrInvalidGrant))
	// Output:
	// type: Bearer
	// can refresh: true
	// expires in about an hour: 1h0m0s
	// second use: true
}

func ExampleConfig_Client() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}}
	tok := uc.IssueToken(ultracart.ScopeItemRead) // as if from Exchange
	tok.Expiry = time.Now().Add(-time.Minute)     // and since expired

	// The client sends the Bearer token and X-UltraCart-Api-Version, and
	// refreshes the token when it expires.
	client := conf.Client(context.Background(), tok)
	fmt.Println(listItems(client, uc.URL))
	fmt.Println("refreshes:", uc.Stats().Refresh)
	// Output:
	// 200 OK 2
	// refreshes: 1
}

// A plain oauth2.Config works with UltraCart once the context carries
// NewContext's client, even when expires_in comes as an odd string.
func ExampleNewContext() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	uc.SetOptions(ultracarttest.Options{ExpiresInJSON: `" 3600"`}) // plain x/oauth2 fails the whole exchange on this

	conf := &oauth2.Config{
		ClientID:    "my-client-id",
		RedirectURL: "https://app.example/oauth/callback",
		Endpoint:    uc.Endpoint(),
	}
	ctx := ultracart.NewContext(context.Background())
	code := authorize(conf.AuthCodeURL("xyz")).URL.Query().Get("code")
	tok, err := conf.Exchange(ctx, code)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires in:", time.Until(tok.Expiry).Round(time.Minute))
	// Output:
	// expires in: 1h0m0s
}

func ExampleRevoke() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}
	tok := uc.IssueToken(ultracart.ScopeItemRead)

	if err := ultracart.Revoke(context.Background(), conf, tok.AccessToken); err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked")

	// The token, and the refresh token with it, are dead.
	client := ultracart.NewClient(context.Background(), oauth2.StaticTokenSource(tok))
	status, _ := listItems(client, uc.URL)
	fmt.Println("api:", status)
	_, err := (&ultracart.Config{Config: *conf}).TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	fmt.Println("refresh:", errors.Is(err, ultracart.ErrInvalidGrant))
	// Output:
	// revoked
	// api: 401 Unauthorized
	// refresh: true
}

func ExampleParseCallback() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID:    "my-client-id",
		RedirectURL: "https://app.example/oauth/callback",
		Endpoint:    uc.Endpoint(),
	}}
	// The state is kept per merchant session; one fixed session here.
	state := ultracart.NewState()

	callback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := ultracart.ParseCallback(r, state)
		switch {
		case errors.Is(err, ultracart.ErrAccessDenied):
			http.Error(w, "You declined; nothing was connected.", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "Authorization failed.", http.StatusBadRequest)
			return
		}
		if _, err := conf.Exchange(r.Context(), code); err != nil {
			http.Error(w, "Authorization failed.", http.StatusBadGateway)
			return
		}
		// Save the token (see PersistentTokenSource), then:
		fmt.Fprintln(w, "Connected to UltraCart.")
	})

	for _, deny := range []bool{false, true} {
		uc.SetOptions(ultracarttest.Options{Deny: deny})
		w := httptest.NewRecorder()
		callback.ServeHTTP(w, authorize(conf.AuthCodeURL(state)))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// A forged callback with another state is refused before anything else.
	w := httptest.NewRecorder()
	callback.ServeHTTP(w, httptest.NewRequest("GET", "/oauth/callback?code=x&state=forged", nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 200 Connected to UltraCart.
	// 403 You declined; nothing was connected.
	// 400 Authorization failed.
}

// Errors from UltraCart are *ultracart.Error values; errors.Is tells the
// cases a program must branch on.
func Example_errors() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID:    "my-client-id",
		RedirectURL: "https://app.example/oauth/callback",
		Endpoint:    uc.Endpoint(),
	}}

	_, err := conf.Exchange(context.Background(), "a-code-that-was-never-issued")
	var e *ultracart.Error
	if errors.As(err, &e) {
		fmt.Println("status:", e.StatusCode, "code:", e.Code)
	}
	if errors.Is(err, ultracart.ErrInvalidGrant) {
		fmt.Println("ask the merchant to authorize again")
	}
	var re *oauth2.RetrieveError // x/oauth2's error is still in the chain
	fmt.Println("retrieve error:", errors.As(err, &re))

	uc.Fail(ultracarttest.TokenPath, ultracarttest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	_, err = conf.Exchange(context.Background(), "another-code")
	if errors.As(err, &e) {
		fmt.Println("status:", e.StatusCode, "temporary:", e.Temporary())
	}
	// Output:
	// status: 400 code: invalid_grant
	// ask the merchant to authorize again
	// retrieve error: true
	// status: 503 temporary: true
}

func ExampleCheckResponse() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	client := ultracart.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "not-a-real-token"}))

	resp, err := client.Get(uc.URL + ultracarttest.ItemsPath)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	err = ultracart.CheckResponse(resp)
	var e *ultracart.Error
	if errors.As(err, &e) {
		fmt.Println("status:", e.StatusCode)
		fmt.Println("UC-REST-ERROR present:", e.RESTError != "")
	}
	// Output:
	// status: 401
	// UC-REST-ERROR present: true
}

func ExampleConfig_DeviceAuth() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID: "my-client-id",
		Scopes:   []string{ultracart.ScopeItemRead}, // the device flow requires one
		Endpoint: uc.Endpoint(),
	}}

	ctx := context.Background()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// What the merchant must read. A command prints it on stderr, keeping
	// stdout for its own output, and so does this example: the address and
	// the code change at every run.
	fmt.Fprintf(os.Stderr, "Visit %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	u, err := url.Parse(da.VerificationURI)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("visit %s and enter a code of %d characters\n", u.Path, len(da.UserCode))
	tok, err := conf.DeviceAccessToken(ctx, da) // polls every da.Interval seconds until the merchant approves
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authorized:", tok.Valid())
	// Output:
	// visit /rest/v2/oauth/device and enter a code of 9 characters
	// authorized: true
}

// NewClient's client sends the Bearer token and X-UltraCart-Api-Version on
// every request, and gets its tokens from any TokenSource; here a
// PersistentTokenSource, which keeps each refreshed token in its store.
func ExampleNewClient() {
	uc := ultracarttest.NewServer() // stands in for secure.ultracart.com
	defer uc.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}
	store := ultracart.NewMemoryStore(uc.IssueToken(ultracart.ScopeItemRead)) // as if saved by the callback

	client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
	fmt.Println(listItems(client, uc.URL))

	// x/oauth2's own client sends no version header, which UltraCart refuses.
	plain := oauth2.NewClient(ctx, oauth2.StaticTokenSource(uc.IssueToken(ultracart.ScopeItemRead)))
	status, _ := listItems(plain, uc.URL)
	fmt.Println("without the version header:", status)
	// Output:
	// 200 OK 2
	// without the version header: 400 Bad Request
}

// Config.TokenSource is oauth2.Config.TokenSource in UltraCart's dialect: it
// refreshes an expired token. It keeps the new, rotated refresh token in
// memory only; PersistentTokenSource also saves it.
func ExampleConfig_TokenSource() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}}

	old := uc.IssueToken(ultracart.ScopeItemRead)
	old.Expiry = time.Now().Add(-time.Minute) // expired: the next Token refreshes it

	tok, err := conf.TokenSource(context.Background(), old).Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", tok.Valid())
	fmt.Println("new access token:", tok.AccessToken != old.AccessToken)
	fmt.Println("rotated refresh token:", tok.RefreshToken != old.RefreshToken)
	fmt.Println("expires in:", time.Until(tok.Expiry).Round(time.Minute))
	// Output:
	// valid: true
	// new access token: true
	// rotated refresh token: true
	// expires in: 1h0m0s
}

// EndpointAt points a Config at another base URL: a sandbox, a proxy, or a
// fake UltraCart in a test.
func ExampleEndpointAt() {
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID: "my-client-id",
		Endpoint: ultracart.EndpointAt("https://sandbox.example/rest/v2"),
	}}
	fmt.Println(conf.Endpoint.TokenURL)
	fmt.Println(conf.Endpoint.AuthURL)
	fmt.Println(conf.Endpoint.DeviceAuthURL)
	// Output:
	// https://sandbox.example/rest/v2/oauth/token
	// https://sandbox.example/rest/v2/oauth/authorize
	// https://sandbox.example/rest/v2/oauth/device/authorize
}

// A FileStore keeps one token in one file, written atomically with mode
// 0600 in a directory of mode 0700 that Save creates when needed. A missing
// file is ErrNoToken; a damaged one is an error that names the path and
// quotes nothing of the file.
func ExampleNewFileStore() {
	dir, err := os.MkdirTemp("", "ultracart-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "merchants", "DEMO.json")
	store := ultracart.NewFileStore(path)

	_, err = store.Load(ctx)
	fmt.Println("before the first save:", errors.Is(err, ultracart.ErrNoToken))

	tok := &oauth2.Token{AccessToken: "access", RefreshToken: "refresh", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(ctx, tok.WithExtra(map[string]any{"scope": ultracart.ScopeItemRead})); err != nil {
		log.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("file mode:", info.Mode().Perm())
	loaded, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loaded:", loaded.RefreshToken == tok.RefreshToken, "scope:", loaded.Extra("scope"))

	if err := os.WriteFile(path, []byte(`{"access_token": "acc`), 0o600); err != nil {
		log.Fatal(err)
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
		log.Fatal(err)
	}
	tok, err := ultracart.PersistentTokenSource(ctx, conf, &store).Token()
	if err != nil {
		log.Fatal(err)
	}
	saved, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed:", tok.AccessToken != old.AccessToken)
	fmt.Println("saved:", saved.AccessToken == tok.AccessToken, saved.RefreshToken == tok.RefreshToken)
	// Output:
	// empty: true
	// refreshed: true
	// saved: true true
}

// A merchant's token kept in a file: the refreshed (and rotated) token is
// saved before it is used, so that a restarted program, or another replica
// sharing the file, carries on without asking the merchant to authorize
// again.
func ExamplePersistentTokenSource() {
	srv := ultracarttest.NewServer() // a fake UltraCart; rotates refresh tokens
	defer srv.Close()
	dir, err := os.MkdirTemp("", "ultracart-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: srv.Endpoint()}
	path := filepath.Join(dir, "merchants", "demo.json")
	store := ultracart.NewFileStore(path)

	// The callback of the authorization flow saves the token. Here the fake
	// server issues it, already expired.
	tok := srv.IssueToken(ultracarttest.DefaultScope)
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := store.Save(ctx, tok); err != nil {
		log.Fatal(err)
	}

	// The source refreshes the expired token and saves the new one first.
	client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
	fmt.Println(listItems(client, srv.URL))
	saved, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("saved a rotated refresh token:", saved.RefreshToken != tok.RefreshToken)

	// After a restart, a new source over the same file uses the saved token:
	// no refresh, and the old refresh token, now dead, is never sent.
	restarted := ultracart.PersistentTokenSource(ctx, conf, ultracart.NewFileStore(path))
	again, err := restarted.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after a restart, the saved token:", again.AccessToken == saved.AccessToken)
	fmt.Println(listItems(ultracart.NewClient(ctx, restarted), srv.URL))
	// Output:
	// 200 OK 2
	// saved a rotated refresh token: true
	// after a restart, the saved token: true
	// 200 OK 2
}

// A token close to its expiry is refreshed in the background: callers keep
// getting it at once meanwhile, and OnRefresh hears of the refresh, with
// nothing secret in what it gets.
func ExamplePersistentTokenSourceWithOptions() {
	srv := ultracarttest.NewServer() // a fake UltraCart; rotates refresh tokens
	defer srv.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: srv.Endpoint()}

	// A stored token with two minutes left: inside the refresh-ahead window
	// (DefaultRefreshAhead, 5 minutes), outside the early window (10 s).
	stored := srv.IssueToken(ultracarttest.DefaultScope)
	stored.Expiry = time.Now().Add(2 * time.Minute)
	store := ultracart.NewMemoryStore(stored)

	refreshed := make(chan ultracart.RefreshEvent, 1)
	src := ultracart.PersistentTokenSourceWithOptions(ctx, conf, store, &ultracart.PersistentOptions{
		OnRefresh: func(e ultracart.RefreshEvent) { refreshed <- e },
	})
	for range 2 { // the first call loads the token, the second starts the refresh
		tok, err := src.Token()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("at once, the stored token:", tok.AccessToken == stored.AccessToken)
	}

	e := <-refreshed
	fmt.Printf("refreshed in the background: %t, rotated: %t, error: %v\n", e.Background, e.Rotated, e.Err)
	fmt.Println("the new token lives longer:", e.NewExpiry.After(e.OldExpiry))
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now the new token:", tok.AccessToken != stored.AccessToken)

	// Output:
	// at once, the stored token: true
	// at once, the stored token: true
	// refreshed in the background: true, rotated: true, error: <nil>
	// the new token lives longer: true
	// now the new token: true
}

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
		log.Fatal(err)
	}

	// Two replicas share the row: the first refreshes and saves, the second
	// adopts the saved token instead of refreshing again.
	a := ultracart.PersistentTokenSource(ctx, conf, merchantStore{table, "DEMO"})
	b := ultracart.PersistentTokenSource(ctx, conf, merchantStore{table, "DEMO"})
	ta, err := a.Token()
	if err != nil {
		log.Fatal(err)
	}
	tb, err := b.Token()
	if err != nil {
		log.Fatal(err)
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

// When the REST API rejects a token with 401 before its Expiry (UltraCart
// expired or replaced it early), the client of [NewClient] recovers by
// itself: it reports the token to its source, an [Invalidator], which
// refreshes it and saves the new token, and sends the request again, once.
// The caller sees only the retry's answer.
//
// When no new token can be got, because the authorization was revoked, the
// request fails with an error matching [ErrInvalidGrant]: the merchant must
// authorize the application again.
func ExampleNewClient_recovery() {
	uc := ultracarttest.NewServer() // stands in for secure.ultracart.com
	defer uc.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}
	saved := uc.IssueToken(ultracart.ScopeItemRead) // valid for an hour, as far as its Expiry says
	store := ultracart.NewMemoryStore(saved)
	client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))

	uc.ExpireAccessTokens() // from now on, the REST API answers 401 to saved.AccessToken
	status, _ := listItems(client, uc.URL)
	fmt.Println("after a 401 and one retry:", status)
	tok, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the store holds a new access token:", tok.AccessToken != saved.AccessToken)

	// The authorization is revoked (by the merchant, or here by the
	// application): the access token is rejected, and the refresh token too.
	if err := ultracart.Revoke(ctx, conf, tok.AccessToken); err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get(uc.URL + "/rest/v2/item/items")
	if err == nil {
		resp.Body.Close()
	}
	fmt.Println("after a revocation, authorize again:", errors.Is(err, ultracart.ErrInvalidGrant))
	// Output:
	// after a 401 and one retry: 200 OK
	// the store holds a new access token: true
	// after a revocation, authorize again: true
}

// ExampleMerchants acts for several merchants, each with its own stored
// token: Client(merchant) is that merchant's client, and callers that ask for
// one merchant at once share one source and one refresh. In production the
// store function would be pgstore's Store.For, a row per merchant.
func ExampleMerchants() {
	srv := ultracarttest.NewServer() // a fake UltraCart; rotates refresh tokens
	defer srv.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: srv.Endpoint()}

	// One MemoryStore per merchant, filled by the authorization callback.
	// Here the fake server issues the tokens, already expired.
	var mu sync.Mutex
	stores := map[string]*ultracart.MemoryStore{}
	for _, merchant := range []string{"DEMO1", "DEMO2"} {
		tok := srv.IssueToken(ultracarttest.DefaultScope)
		tok.Expiry = time.Now().Add(-time.Minute)
		stores[merchant] = ultracart.NewMemoryStore(tok)
	}
	merchants := ultracart.NewMerchants(ctx, conf, func(merchant string) ultracart.TokenStore {
		mu.Lock()
		defer mu.Unlock()
		return stores[merchant]
	})

	// Ten requests per merchant at once: one refresh per merchant.
	var wg sync.WaitGroup
	for range 10 {
		for _, merchant := range []string{"DEMO1", "DEMO2"} {
			wg.Go(func() { listItems(merchants.Client(merchant), srv.URL) })
		}
	}
	wg.Wait()
	fmt.Println("requests:", srv.Stats().API, "refreshes:", srv.Stats().Refresh)

	// The empty key names no merchant.
	_, err := merchants.TokenSource("").Token()
	fmt.Println(err)

	// Output:
	// requests: 20 refreshes: 2
	// ultracart: Merchants needs a merchant key; the empty key names no merchant
}
