package ultracarttest

import "time"

// OmitExpiresIn is the value that, passed to SetExpiresInJSON, makes token
// responses leave the expires_in field out entirely.
const OmitExpiresIn = "<omit expires_in>"

// SetClientID makes the server accept only this client_id: the token and
// device endpoints answer other ids with invalid_client (401), the authorize
// link and the revoke endpoint with an ErrorResponse envelope. An empty id
// restores the default of accepting any client_id.
func (s *Server) SetClientID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientID = id
}

// SetClientSecret makes the token endpoint require this client_secret in
// the form, for every grant type (missing or different: invalid_client,
// 401). The device authorization and revoke endpoints never check it. An
// empty secret restores the default of ignoring any client_secret sent.
func (s *Server) SetClientSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientSecret = secret
}

// SetRedirectURL sets the redirect URL preconfigured on the application
// profile. The authorize link uses it when the request has no
// redirect_uri; the exchange of such a code must then send this URL as its
// redirect_uri. An empty URL removes it.
func (s *Server) SetRedirectURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectURL = u
}

// SetDeny makes the user deny every request: the authorize link redirects
// with error=access_denied and device code polls answer access_denied.
func (s *Server) SetDeny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// SetAuthorizeExpired makes the authorize link redirect with
// error=invalid_request, as UltraCart does when an authorize link has
// expired. It takes precedence over SetDeny.
func (s *Server) SetAuthorizeExpired(expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authExpired = expired
}

// SetTokenLifetime sets the lifetime of access tokens issued from now on
// (default one hour). The expires_in of token responses is its whole
// seconds, as a JSON string; a lifetime under one second gives "0".
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// SetExpiresInJSON sets the raw JSON text sent, verbatim and unchecked, as
// the value of expires_in in token responses, for instance `""`, `" 3600"`,
// `3600.0`, `null` or `3600`. OmitExpiresIn leaves the field out; the empty
// string restores the default, the token lifetime in whole seconds as a
// JSON string. It changes only the response text: the tokens still expire
// after the token lifetime.
func (s *Server) SetExpiresInJSON(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresInJSON = raw
}

// SetRotateRefreshTokens sets whether a refresh returns a new refresh token
// and kills the used one (true, the default) or returns the same refresh
// token again (false). The access token is replaced either way.
func (s *Server) SetRotateRefreshTokens(rotate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = rotate
}

// SetDeviceInterval sets the interval, in seconds, the device authorization
// response asks clients to poll at (default 1, so that tests are quick).
func (s *Server) SetDeviceInterval(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deviceInterval = seconds
}

// SetDevicePending makes the token endpoint answer authorization_pending to
// the first n polls of each device code (after any slow_down answers, see
// SetDeviceSlowDown). The default is 0: the first poll gets the token.
func (s *Server) SetDevicePending(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devicePending = n
}

// SetDeviceSlowDown makes the token endpoint answer slow_down to the first
// n polls of each device code, before any authorization_pending answers.
// Note that golang.org/x/oauth2 adds five seconds to its polling interval
// on each slow_down.
func (s *Server) SetDeviceSlowDown(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deviceSlowDown = n
}
