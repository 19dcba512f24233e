// Package ultracart is UltraCart's OAuth 2.0 for golang.org/x/oauth2: keep
// the code you know. Changing the Endpoint alone is not enough: UltraCart
// answers every REST call without X-UltraCart-Api-Version with 400, and
// x/oauth2 fails the exchange on the empty expires_in UltraCart may send.
// The one line that makes a plain oauth2.Config work is NewContext (or use
// Config, which does it for you):
//
//	tok, err := conf.Exchange(ultracart.NewContext(ctx), code)
//
// UltraCart speaks a dialect of OAuth 2.0: it sends expires_in as a string
// (sometimes empty or odd), reports errors in an ErrorResponse envelope with
// a UC-REST-ERROR header, wants an X-UltraCart-Api-Version header on every
// request, and may fix the redirect URI in the application's profile. Config
// wraps an oauth2.Config and speaks that dialect; NewContext teaches a plain
// oauth2.Config the same; NewClient's client adds the Bearer token and the
// version header, refreshes by itself and never sends the token to another
// origin.
//
// The happy path:
//
//	conf := &ultracart.Config{Config: oauth2.Config{ClientID: id, RedirectURL: redirect}}
//	http.Redirect(w, r, conf.AuthCodeURL(state), http.StatusFound) // then, in the callback:
//	code, err := ultracart.ParseCallback(r, state)
//	tok, err := conf.Exchange(ctx, code)
//	client := conf.Client(ctx, tok) // GET https://secure.ultracart.com/rest/v2/item/items …
//
// PersistentTokenSource keeps every refreshed (and rotated) token in a
// TokenStore, such as a FileStore, before it is used, and coordinates
// refreshes across processes, so that a merchant never has to authorize
// again because a refresh token was lost.
//
// When the REST API rejects a token (401), the clients of NewClient and
// Config.Client tell their source (see Invalidator), which adopts a token
// another process saved or refreshes, and retry the request once.
//
// Errors from UltraCart are *Error values; errors.Is matches ErrInvalidGrant
// (authorize again), ErrAccessDenied, ErrInvalidRequest and ErrInvalidToken
// (a 401 of the REST API). No error,
// whatever its format verb, contains an access token, refresh token,
// authorization code, client secret or state.
//
// Package ultracarttest is a fake UltraCart for tests and examples.
package ultracart
