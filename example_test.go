package ultracart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
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
		fmt.Println(err)
		return
	}
	tok, err := conf.Exchange(context.Background(), code)
	if err != nil {
		fmt.Println(err)
		return
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

	// The client sends the Bearer token and X-UltraCart-Api-Version, and
	// refreshes the token when it expires.
	client := conf.Client(context.Background(), tok)
	fmt.Println(listItems(client, uc.URL))

	uc.ExpireAccessTokens() // the server no longer accepts the token
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	client = conf.Client(context.Background(), &expired)
	fmt.Println(listItems(client, uc.URL))
	fmt.Println("refreshes:", uc.Stats().Refresh)
	// Output:
	// 200 OK 2
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
		fmt.Println(err)
		return
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
		fmt.Println(err)
		return
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
		fmt.Println(err)
		return
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
	uc.SetOptions(ultracarttest.Options{DevicePending: 1}) // the merchant takes a moment to approve
	conf := &ultracart.Config{Config: oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint(), Scopes: []string{ultracart.ScopeItemRead}}}

	ctx := context.Background()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	// What the merchant must read. A command prints it on stderr, keeping
	// stdout for its own output, and so does this example: the address and
	// the code change at every run.
	fmt.Fprintf(os.Stderr, "Visit %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	u, err := url.Parse(da.VerificationURI)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("visit %s and enter a code of %d characters\n", u.Path, len(da.UserCode))
	tok, err := conf.DeviceAccessToken(ctx, da) // polls every da.Interval seconds
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("authorized:", tok.Valid())
	// Output:
	// visit /rest/v2/oauth/device and enter a code of 9 characters
	// authorized: true
}
