package ultracart_test

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

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
	resp, err := client.Get(uc.URL + "/rest/v2/item/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("after a 401 and one retry:", resp.Status)
	tok, err := store.Load(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("the store holds a new access token:", tok.AccessToken != saved.AccessToken)

	// The authorization is revoked (by the merchant, or here by the
	// application): the access token is rejected, and the refresh token too.
	if err := ultracart.Revoke(ctx, conf, tok.AccessToken); err != nil {
		fmt.Println(err)
		return
	}
	resp, err = client.Get(uc.URL + "/rest/v2/item/items")
	if err == nil {
		resp.Body.Close()
	}
	fmt.Println("after a revocation, authorize again:", errors.Is(err, ultracart.ErrInvalidGrant))
	// Output:
	// after a 401 and one retry: 200 OK
	// the store holds a new access token: true
	// after a revocation, authorize again: true
}
