// Package ultracart makes [golang.org/x/oauth2] speak UltraCart's dialect of
// OAuth 2.0: keep the x/oauth2 code you know, and use [Config] (or put
// [NewContext] under a plain [oauth2.Config]).
//
// UltraCart sends expires_in as a string (sometimes empty or odd), reports
// errors in an ErrorResponse envelope with a UC-REST-ERROR header, wants an
// X-UltraCart-Api-Version header on every request, and may fix the redirect
// URI in the application's profile. [Config] wraps an [oauth2.Config] and
// speaks that dialect; [NewContext] teaches a plain [oauth2.Config] the same;
// the client of [NewClient] and [Config.Client] adds the Bearer token and the
// version header, refreshes by itself and never sends the token to another
// origin.
//
// # The happy path
//
// The merchant's browser goes to UltraCart and comes back to the callback
// with a code. The state that ties the two together comes from [NewState]
// and is kept, here, in a short-lived cookie; a server-side session works as
// well. A zero Endpoint means UltraCart's ([Endpoint]).
//
//	var conf = &ultracart.Config{Config: oauth2.Config{
//		ClientID:    "my-client-id",
//		RedirectURL: "https://app.example/oauth/callback",
//		Scopes:      []string{ultracart.ScopeItemRead},
//	}}
//
//	var store = ultracart.NewFileStore("/var/lib/myapp/merchant.json")
//
//	func login(w http.ResponseWriter, r *http.Request) {
//		state := ultracart.NewState()
//		http.SetCookie(w, &http.Cookie{Name: "uc_state", Value: state, Path: "/oauth/callback",
//			MaxAge: 600, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
//		http.Redirect(w, r, conf.AuthCodeURL(state), http.StatusFound)
//	}
//
//	func callback(w http.ResponseWriter, r *http.Request) {
//		cookie, err := r.Cookie("uc_state")
//		if err != nil {
//			http.Error(w, "No authorization in progress.", http.StatusBadRequest)
//			return
//		}
//		code, err := ultracart.ParseCallback(r, cookie.Value)
//		if errors.Is(err, ultracart.ErrAccessDenied) {
//			http.Error(w, "You declined; nothing was connected.", http.StatusForbidden)
//			return
//		} else if err != nil { // ErrStateMismatch, invalid_request, no code
//			http.Error(w, "Authorization failed.", http.StatusBadRequest)
//			return
//		}
//		tok, err := conf.Exchange(r.Context(), code)
//		if err != nil {
//			http.Error(w, "Authorization failed.", http.StatusBadGateway)
//			return
//		}
//		if err := store.Save(r.Context(), tok); err != nil {
//			http.Error(w, "Could not keep the authorization.", http.StatusInternalServerError)
//			return
//		}
//		fmt.Fprintln(w, "Connected to UltraCart.")
//	}
//
// Later, and after every restart, the REST API is called with the saved token:
//
//	func listItems(ctx context.Context) error {
//		client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, &conf.Config, store))
//		resp, err := client.Get("https://secure.ultracart.com/rest/v2/item/items")
//		if err != nil {
//			return err
//		}
//		defer resp.Body.Close()
//		if err := ultracart.CheckResponse(resp); err != nil {
//			return err // an *ultracart.Error
//		}
//		_, err = io.Copy(os.Stdout, resp.Body)
//		return err
//	}
//
// # Tokens that survive restarts
//
// [PersistentTokenSource] keeps every refreshed (and rotated) token in a
// [TokenStore], such as a [FileStore] or a [MemoryStore], before it is used,
// and coordinates refreshes across processes through [Locker], so that a
// merchant never has to authorize again because a refresh token was lost.
// Any other storage, a database row per merchant for instance, needs only
// Load and Save (and Lock to coordinate processes).
//
// When the REST API rejects a token (401), the clients of [NewClient] and
// [Config.Client] tell their source (see [Invalidator]), which adopts a token
// another process saved or refreshes, and retry the request once. A source
// does not replace again a token it got moments ago for a rejected one, so a
// resource that rejects every token costs one refresh per pause, not one per
// request; a 401 the client cannot recover from is an error matching
// [ErrInvalidToken].
//
// # Errors
//
// Errors from UltraCart are [*Error] values. [errors.Is] matches
// [ErrInvalidGrant] (ask the merchant to authorize again), [ErrAccessDenied],
// [ErrInvalidRequest], [ErrStateMismatch] and [ErrInvalidToken] (a 401 of
// the REST API); [Error.Temporary] reports the
// ones worth a later retry; [errors.As] still finds x/oauth2's
// [*oauth2.RetrieveError]. No error, whatever its format verb, contains an
// access token, refresh token, authorization code, client secret or state.
//
// # Tests
//
// Package [github.com/ultracart-go/ultracart/ultracarttest] is a fake
// UltraCart on 127.0.0.1 for tests and examples; [EndpointAt] points a
// [Config] at it, or at any other base URL.
package ultracart
