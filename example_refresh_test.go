package ultracart_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

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
			fmt.Println(err)
			return
		}
		fmt.Println("at once, the stored token:", tok.AccessToken == stored.AccessToken)
	}

	e := <-refreshed
	fmt.Printf("refreshed in the background: %t, rotated: %t, error: %v\n", e.Background, e.Rotated, e.Err)
	fmt.Println("the new token lives longer:", e.NewExpiry.After(e.OldExpiry))
	tok, err := src.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("now the new token:", tok.AccessToken != stored.AccessToken)

	// Output:
	// at once, the stored token: true
	// at once, the stored token: true
	// refreshed in the background: true, rotated: true, error: <nil>
	// the new token lives longer: true
	// now the new token: true
}
