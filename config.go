package ultracart

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Config is an [oauth2.Config] that speaks UltraCart's dialect of OAuth 2.0;
// use it as you would an oauth2.Config. A zero Endpoint means [Endpoint].
//
// Its methods send the X-UltraCart-Api-Version header, accept expires_in as
// UltraCart sends it, refuse redirects to another origin, and return
// UltraCart's errors as [*Error] values. Set [Config.PreconfiguredRedirect]
// when the application's profile at UltraCart fixes the redirect URI.
//
// A Config is safe for concurrent use as long as its fields are not changed.
type Config struct {
	oauth2.Config
	// PreconfiguredRedirect says that the application profile at UltraCart
	// fixes the redirect URI, so AuthCodeURL leaves redirect_uri out;
	// Exchange still sends RedirectURL when it is set.
	PreconfiguredRedirect bool
}

// oauth2Config returns the embedded configuration with Endpoint filled in.
func (c *Config) oauth2Config() *oauth2.Config { return withEndpoint(&c.Config) }

// AuthCodeURL returns the link that sends the merchant to UltraCart to
// authorize the application. UltraCart requires a state: make it with
// [NewState], and check it in the callback with [ParseCallback].
//
// The link carries response_type=code, client_id, state, scope
// (space-separated, only when Scopes is set) and redirect_uri (only when
// RedirectURL is set and [Config.PreconfiguredRedirect] is false).
func (c *Config) AuthCodeURL(state string, opts ...oauth2.AuthCodeOption) string {
	conf := c.oauth2Config()
	if c.PreconfiguredRedirect {
		conf.RedirectURL = ""
	}
	return conf.AuthCodeURL(state, opts...)
}

// Exchange converts an authorization code, from [ParseCallback], into a
// token; save it in a [TokenStore] for [PersistentTokenSource]. It sends
// redirect_uri whenever RedirectURL is set, as UltraCart requires. Errors
// are [*Error] values; one matching [ErrInvalidGrant] means the code was
// already used or has expired.
func (c *Config) Exchange(ctx context.Context, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	if code == "" {
		return nil, errors.New("ultracart: the authorization code is empty")
	}
	tok, err := c.oauth2Config().Exchange(NewContext(ctx), code, opts...)
	return tok, wrapError(err)
}

// TokenSource returns an [oauth2.TokenSource] that returns t until it
// expires, then refreshes it with its refresh token, as
// [oauth2.Config.TokenSource] does. A rotated refresh token lives only in the
// returned source: use [PersistentTokenSource] to keep it.
//
// Its errors are [*Error] values. It implements [Invalidator]: a token the
// REST API rejected is refreshed, once however many goroutines report it. It
// is safe for concurrent use, and each call to Token returns a token of the
// caller's own.
//
// With a nil t, or a t with neither an access token nor a refresh token,
// Token fails with an error matching [ErrNoToken]. As in
// PersistentTokenSource, a token near its expiry ([DefaultRefreshAhead]) is
// refreshed in the background while callers keep getting it, refreshes
// keep ctx's values but not its cancellation, and each takes at most 30 s.
func (c *Config) TokenSource(ctx context.Context, t *oauth2.Token) oauth2.TokenSource {
	if t != nil && t.AccessToken == "" && t.RefreshToken == "" {
		t = nil
	}
	return newPersistentSource(ctx, c.oauth2Config(), privateStore{NewMemoryStore(t)}, nil)
}

// privateStore is the store of Config.TokenSource: a MemoryStore that no
// other source shares, and so without a Locker (the source's own refreshes
// are serialized already).
type privateStore struct{ m *MemoryStore }

func (p privateStore) Load(ctx context.Context) (*oauth2.Token, error) { return p.m.Load(ctx) }

func (p privateStore) Save(ctx context.Context, t *oauth2.Token) error { return p.m.Save(ctx, t) }

// Client returns an HTTP client that sends the token, refreshes it when it
// expires and adds X-UltraCart-Api-Version. It is [NewClient] over
// [Config.TokenSource], so a token the REST API rejects is replaced once, as
// NewClient describes.
func (c *Config) Client(ctx context.Context, t *oauth2.Token) *http.Client {
	return NewClient(ctx, c.TokenSource(ctx, t))
}

// DeviceAuth starts the device flow (RFC 8628): show the merchant the
// VerificationURI and UserCode of the [oauth2.DeviceAuthResponse], then call
// [Config.DeviceAccessToken]. UltraCart requires a scope here: without one
// in Scopes, DeviceAuth fails at once and sends nothing.
func (c *Config) DeviceAuth(ctx context.Context, opts ...oauth2.AuthCodeOption) (*oauth2.DeviceAuthResponse, error) {
	if strings.TrimSpace(strings.Join(c.Scopes, "")) == "" {
		return nil, errors.New("ultracart: the device flow needs a scope: set Config.Scopes (UltraCart's device authorization requires one)")
	}
	da, err := c.oauth2Config().DeviceAuth(NewContext(ctx), opts...)
	return da, wrapError(err)
}

// DeviceAccessToken polls the token endpoint until the merchant approves the
// device, declines (an error matching [ErrAccessDenied]), or the device code
// expires. It waits the interval the server asked for and slows down when
// told to (authorization_pending and slow_down keep their RFC 8628 meaning);
// ctx bounds the whole wait.
func (c *Config) DeviceAccessToken(ctx context.Context, da *oauth2.DeviceAuthResponse, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	tok, err := c.oauth2Config().DeviceAccessToken(NewContext(ctx), da, opts...)
	return tok, wrapError(err)
}

// Revoke revokes an access token and with it the application's
// authorization; see the function [Revoke].
func (c *Config) Revoke(ctx context.Context, token string) error {
	return Revoke(ctx, c.oauth2Config(), token)
}
