package ultracart_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

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
	resp, err := client.Get(uc.URL + "/rest/v2/item/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	if err := ultracart.CheckResponse(resp); err != nil {
		fmt.Println(err)
		return
	}
	var body struct {
		Items []struct {
			MerchantItemID string `json:"merchant_item_id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		fmt.Println(err)
		return
	}
	for _, item := range body.Items {
		fmt.Println(item.MerchantItemID)
	}

	// x/oauth2's own client sends no version header, which UltraCart refuses.
	plain := oauth2.NewClient(ctx, oauth2.StaticTokenSource(uc.IssueToken(ultracart.ScopeItemRead)))
	resp, err = plain.Get(uc.URL + "/rest/v2/item/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("without the version header:", resp.Status)
	// Output:
	// DEMO-ITEM-1
	// DEMO-ITEM-2
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
		fmt.Println(err)
		return
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
	fmt.Println(ultracart.EndpointAt("https://sandbox.example/rest/v2").TokenURL)

	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &ultracart.Config{Config: oauth2.Config{
		ClientID: "my-client-id",
		Endpoint: ultracart.EndpointAt(uc.URL + "/rest/v2"),
	}}
	fmt.Println(strings.TrimPrefix(conf.Endpoint.AuthURL, uc.URL))
	fmt.Println(strings.TrimPrefix(conf.Endpoint.DeviceAuthURL, uc.URL))

	refresh := &oauth2.Token{RefreshToken: uc.IssueToken("").RefreshToken}
	tok, err := conf.TokenSource(context.Background(), refresh).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refreshed:", tok.Valid())
	// Output:
	// https://sandbox.example/rest/v2/oauth/token
	// /rest/v2/oauth/authorize
	// /rest/v2/oauth/device/authorize
	// refreshed: true
}
