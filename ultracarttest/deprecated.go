package ultracarttest

import "time"

// This file keeps the names of the first version of the package compiling
// while callers move to Options and the Code constants. Each one is a thin
// wrapper over the new shape.

// OmitExpiresIn is the value that, passed to SetExpiresInJSON, makes token
// responses leave the expires_in field out entirely.
//
// Deprecated: set Options.OmitExpiresIn.
const OmitExpiresIn = "<omit expires_in>"

// OAuth error codes, by their old names.
//
// Deprecated: use the Code constants (ErrInvalidGrant is CodeInvalidGrant,
// and so on); the Err names read like the library's error values.
const (
	ErrInvalidRequest       = CodeInvalidRequest
	ErrInvalidClient        = CodeInvalidClient
	ErrInvalidGrant         = CodeInvalidGrant
	ErrUnsupportedGrantType = CodeUnsupportedGrantType
	ErrAuthorizationPending = CodeAuthorizationPending
	ErrSlowDown             = CodeSlowDown
	ErrAccessDenied         = CodeAccessDenied
	ErrExpiredToken         = CodeExpiredToken
)

// VersionHeader is the request header that names the API version.
//
// Deprecated: use ultracart.APIVersionHeader, the library's name.
const VersionHeader = versionHeader

// update changes the options under the server's lock.
func (s *Server) update(f func(o *Options)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.opts)
}

// SetClientID sets Options.ClientID.
//
// Deprecated: use SetOptions with Options.ClientID.
func (s *Server) SetClientID(id string) { s.update(func(o *Options) { o.ClientID = id }) }

// SetClientSecret sets Options.ClientSecret.
//
// Deprecated: use SetOptions with Options.ClientSecret.
func (s *Server) SetClientSecret(secret string) {
	s.update(func(o *Options) { o.ClientSecret = secret })
}

// SetRedirectURL sets Options.RedirectURL.
//
// Deprecated: use SetOptions with Options.RedirectURL.
func (s *Server) SetRedirectURL(u string) { s.update(func(o *Options) { o.RedirectURL = u }) }

// SetDeny sets Options.Deny.
//
// Deprecated: use SetOptions with Options.Deny.
func (s *Server) SetDeny(deny bool) { s.update(func(o *Options) { o.Deny = deny }) }

// SetAuthorizeExpired sets Options.AuthorizeExpired.
//
// Deprecated: use SetOptions with Options.AuthorizeExpired.
func (s *Server) SetAuthorizeExpired(expired bool) {
	s.update(func(o *Options) { o.AuthorizeExpired = expired })
}

// SetTokenLifetime sets Options.TokenLifetime; unlike it, 0 means a
// lifetime of zero (expires_in "0"), as it did.
//
// Deprecated: use SetOptions with Options.TokenLifetime.
func (s *Server) SetTokenLifetime(d time.Duration) {
	if d == 0 {
		d = time.Nanosecond
	}
	s.update(func(o *Options) { o.TokenLifetime = d })
}

// SetExpiresInJSON sets Options.ExpiresInJSON, or Options.OmitExpiresIn for
// the value OmitExpiresIn.
//
// Deprecated: use SetOptions with Options.ExpiresInJSON or
// Options.OmitExpiresIn.
func (s *Server) SetExpiresInJSON(raw string) {
	s.update(func(o *Options) {
		o.OmitExpiresIn = raw == OmitExpiresIn
		o.ExpiresInJSON = raw
		if o.OmitExpiresIn {
			o.ExpiresInJSON = ""
		}
	})
}

// SetRotateRefreshTokens sets Options.KeepRefreshTokens to !rotate.
//
// Deprecated: use SetOptions with Options.KeepRefreshTokens.
func (s *Server) SetRotateRefreshTokens(rotate bool) {
	s.update(func(o *Options) { o.KeepRefreshTokens = !rotate })
}

// SetDeviceInterval sets Options.DeviceInterval to seconds seconds.
//
// Deprecated: use SetOptions with Options.DeviceInterval, a time.Duration.
func (s *Server) SetDeviceInterval(seconds int) {
	s.update(func(o *Options) { o.DeviceInterval = time.Duration(seconds) * time.Second })
}

// SetDevicePending sets Options.DevicePending.
//
// Deprecated: use SetOptions with Options.DevicePending.
func (s *Server) SetDevicePending(n int) { s.update(func(o *Options) { o.DevicePending = n }) }

// SetDeviceSlowDown sets Options.DeviceSlowDown.
//
// Deprecated: use SetOptions with Options.DeviceSlowDown.
func (s *Server) SetDeviceSlowDown(n int) { s.update(func(o *Options) { o.DeviceSlowDown = n }) }
