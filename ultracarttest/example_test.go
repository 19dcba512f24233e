package ultracarttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/ultracarttest"
)

// itemsPage is the application's handler under test: it lists the
// merchant's items. Its API base URL is a field, so that a test can point it
// at the fake.
type itemsPage struct {
	client  *http.Client
	apiBase string // "https://secure.ultracart.com" in production
}

func newItemsPage(ctx context.Context, conf *oauth2.Config, store ultracart.TokenStore, apiBase string) *itemsPage {
	src := ultracart.PersistentTokenSource(ctx, conf, store)
	return &itemsPage{client: ultracart.NewClient(ctx, src), apiBase: apiBase}
}

func (p *itemsPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.apiBase+"/rest/v2/item/items", nil)
	if err != nil {
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	resp, err := p.client.Do(req)
	switch {
	case errors.Is(err, ultracart.ErrNoToken):
		http.Error(w, "Connect your UltraCart account first.", http.StatusConflict)
		return
	case errors.Is(err, ultracart.ErrInvalidGrant):
		http.Error(w, "Connect your UltraCart account again.", http.StatusConflict)
		return
	case err != nil:
		http.Error(w, "UltraCart is unreachable.", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if err := ultracart.CheckResponse(resp); err != nil {
		http.Error(w, "UltraCart refused the request.", http.StatusBadGateway)
		return
	}
	var body struct {
		Items []struct {
			ID string `json:"merchant_item_id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		http.Error(w, "UltraCart sent an unreadable answer.", http.StatusBadGateway)
		return
	}
	ids := make([]string, len(body.Items))
	for i, item := range body.Items {
		ids[i] = item.ID
	}
	fmt.Fprintf(w, "%d items: %s\n", len(ids), strings.Join(ids, ", "))
}

// A test of an application's handler against the fake UltraCart. In the
// application's own test file this is the body of
// func TestItemsPage(t *testing.T), with t.Cleanup(uc.Close) for the defer
// and t.Errorf where this example prints.
func ExampleNewServer() {
	uc := ultracarttest.NewServer()
	defer uc.Close()
	conf := &oauth2.Config{ClientID: "test-client", Endpoint: uc.Endpoint()}
	// Token requests go through the fake's own client.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, uc.Client())

	expired := uc.IssueToken(ultracart.ScopeItemRead)
	expired.Expiry = time.Now().Add(-time.Minute)
	for _, tc := range []struct {
		name  string
		token *oauth2.Token // in the store before the request; nil: none
	}{
		{"connected", uc.IssueToken(ultracart.ScopeItemRead)},
		{"expired token", expired},
		{"not connected", nil},
	} {
		store := ultracart.NewMemoryStore(tc.token)
		page := newItemsPage(ctx, conf, store, uc.URL)

		w := httptest.NewRecorder()
		page.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/items", nil))
		fmt.Printf("%s: %d %s", tc.name, w.Code, w.Body)

		if tc.token != nil {
			saved, err := store.Load(ctx)
			if err != nil {
				fmt.Println(err)
				continue
			}
			fmt.Println("  token refreshed and saved:", saved.AccessToken != tc.token.AccessToken)
		}
	}
	// Output:
	// connected: 200 2 items: DEMO-ITEM-1, DEMO-ITEM-2
	//   token refreshed and saved: false
	// expired token: 200 2 items: DEMO-ITEM-1, DEMO-ITEM-2
	//   token refreshed and saved: true
	// not connected: 409 Connect your UltraCart account first.
}
