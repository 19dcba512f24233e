package ultracarttest

import (
	"time"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// Options sets how a Server behaves. The zero Options is the default
// behaviour: any client_id is accepted, no client secret is checked, no
// redirect URL is preconfigured, access tokens live one hour, refresh
// tokens rotate and a used one is simply rejected (invalid_grant), the
// device flow polls every second with no pending answers, and time is the
// wall clock.
type Options struct {
	// ClientID, when set, is the only client_id accepted: the token and
	// device endpoints answer other ids with invalid_client (401), the
	// authorize link and the revoke endpoint with an ErrorResponse envelope.
	ClientID string
	// ClientSecret, when set, is required in the form of every token
	// request, whatever its grant type (missing or different:
	// invalid_client, 401). The device authorization and revoke endpoints
	// never check it.
	ClientSecret string
	// RedirectURL is the redirect URL preconfigured on the application
	// profile. The authorize link uses it when the request has no
	// redirect_uri; the exchange of such a code must then send it as its
	// redirect_uri.
	RedirectURL string

	// TokenErrorEnvelope makes the token and device endpoints answer their
	// errors as UltraCart's OpenAPI spec declares them (oauthAccessToken: an
	// ErrorResponse with the UC-REST-ERROR header) instead of the OAuth
	// form: the same status (400, or 401 for invalid_client) and
	// description, in an envelope that carries no RFC 6749 error code. A
	// client can then tell a refused refresh token only by its status, and
	// a device poll cannot tell authorization_pending from a refusal.
	TokenErrorEnvelope bool

	// Deny makes the user deny every request: the authorize link redirects
	// with error=access_denied and device code polls answer access_denied.
	Deny bool

	// TokenLifetime is the lifetime of the access tokens issued; 0 means
	// one hour. The expires_in of token responses is its whole seconds, as a
	// JSON string; a lifetime under one second gives "0".
	TokenLifetime time.Duration
	// ExpiresInJSON, when set, is the raw JSON text sent, verbatim and
	// unchecked, as the value of expires_in in token responses, for
	// instance `""`, `" 3600"`, `3600.0`, `null` or `3600`. It changes only
	// the response text: the tokens still expire after TokenLifetime.
	ExpiresInJSON string

	// KeepRefreshTokens makes a refresh return the same refresh token again
	// instead of a new one; the access token is replaced either way.
	KeepRefreshTokens bool
	// ReuseDetection makes a used (rotated) refresh token, presented again
	// after ReuseGrace, revoke its whole token family: every access and
	// refresh token descended from the same authorization. The request is
	// answered invalid_grant either way. This is what Ory Hydra, Auth0 and
	// Okta do.
	ReuseDetection bool
	// ReuseGrace is how long a used refresh token keeps working after its
	// first use (Hydra's rotation_grace_period, Auth0's reuse interval): a
	// refresh with it within the period is answered with new tokens, and
	// the tokens issued by its first use stay valid. 0 means no grace.
	ReuseGrace time.Duration

	// DevicePending makes the token endpoint answer authorization_pending
	// to the first n polls of each device code.
	DevicePending int

	// Clock, when set, is the server's time: it dates the expiry of access
	// tokens, codes and device codes and measures ReuseGrace, so that tests
	// of expiry can move time instead of sleeping. Fault delays are real
	// time. It is called with the server's lock held and must not call the
	// Server.
	Clock func() time.Time
}

// SetOptions replaces the server's options with o, for the requests that
// arrive from now on. Tokens already issued keep their expiry.
func (s *Server) SetOptions(o Options) {
	s.s.SetOptions(fakeuc.Options{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		TokenErrorEnvelope: o.TokenErrorEnvelope, Deny: o.Deny,
		TokenLifetime: o.TokenLifetime, ExpiresInJSON: o.ExpiresInJSON,
		KeepRefreshTokens: o.KeepRefreshTokens, ReuseDetection: o.ReuseDetection, ReuseGrace: o.ReuseGrace,
		DevicePending: o.DevicePending, Clock: o.Clock,
	})
}

// Options returns the server's current options, for instance to change one
// field: o := s.Options(); o.Deny = true; s.SetOptions(o).
func (s *Server) Options() Options {
	o := s.s.Options()
	return Options{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		TokenErrorEnvelope: o.TokenErrorEnvelope, Deny: o.Deny,
		TokenLifetime: o.TokenLifetime, ExpiresInJSON: o.ExpiresInJSON,
		KeepRefreshTokens: o.KeepRefreshTokens, ReuseDetection: o.ReuseDetection, ReuseGrace: o.ReuseGrace,
		DevicePending: o.DevicePending, Clock: o.Clock,
	}
}
