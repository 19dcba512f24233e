package ultracart_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

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
			wg.Go(func() {
				resp, err := merchants.Client(merchant).Get(srv.URL + ultracarttest.ItemsPath)
				if err != nil {
					panic(err)
				}
				resp.Body.Close()
			})
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
