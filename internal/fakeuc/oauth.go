package fakeuc

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Grant types of the token endpoint.
const (
	// GrantAuthorizationCode exchanges an authorization code.
	GrantAuthorizationCode = "authorization_code"
	// GrantRefreshToken exchanges a refresh token.
	GrantRefreshToken = "refresh_token"
	// GrantDeviceCode polls for the token of a device code (RFC 8628).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// unsupportedGrants are standard grant types UltraCart does not offer; they
// answer unsupported_grant_type, while unknown strings answer
// invalid_request.
var unsupportedGrants = map[string]bool{
	"client_credentials": true,
	"password":           true,
	"implicit":           true,
	"urn:ietf:params:oauth:grant-type:jwt-bearer":     true,
	"urn:ietf:params:oauth:grant-type:saml2-bearer":   true,
	"urn:ietf:params:oauth:grant-type:token-exchange": true,
}

// handleAuthorize serves the browser link.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request, form url.Values, _ error) {
	const more = "The authorize link needs client_id, response_type=code and state; redirect_uri is optional."
	bad := func(msg string) {
		writeEnvelope(w, http.StatusBadRequest, msg, msg, more)
	}
	clientID := form.Get("client_id")
	state := form.Get("state")
	switch {
	case clientID == "":
		bad("client_id is required.")
		return
	case form.Get("response_type") == "":
		bad("response_type is required.")
		return
	case form.Get("response_type") != "code":
		bad("response_type must be code.")
		return
	case state == "":
		bad("state is required.")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.ClientID != "" && clientID != s.opts.ClientID {
		bad("Unknown client_id.")
		return
	}
	redirect := form.Get("redirect_uri")
	if redirect == "" {
		redirect = s.opts.RedirectURL
	}
	if redirect == "" {
		bad("redirect_uri is required: the application has no preconfigured redirect URL.")
		return
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" || u.RawFragment != "" {
		bad("redirect_uri must be an absolute URL without a fragment.")
		return
	}

	q := url.Values{"state": {state}}
	switch {
	case s.opts.AuthorizeExpired:
		q.Set("error", CodeInvalidRequest)
		q.Set("error_description", "The authorize link has expired. Start the authorization again.")
	case s.opts.Deny:
		q.Set("error", CodeAccessDenied)
		q.Set("error_description", "The user denied the authorization request.")
	default:
		code := newSecret(CodePrefix)
		scope := form.Get("scope")
		if scope == "" {
			scope = DefaultScope
		}
		s.codes[code] = &authCode{
			clientID:    clientID,
			redirectURI: redirect,
			scope:       scope,
			expiry:      s.now().Add(CodeLifetime),
		}
		q.Set("code", code)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// checkClientLocked checks client_id and, when withSecret is set,
// client_secret of a token or device request, and answers the error itself
// when they fail. s.mu must be held.
func (s *Server) checkClientLocked(w http.ResponseWriter, form url.Values, withSecret bool) bool {
	clientID := form.Get("client_id")
	if clientID == "" {
		s.writeErrorLocked(w, CodeInvalidRequest, "client_id is required.")
		return false
	}
	if s.opts.ClientID != "" && clientID != s.opts.ClientID {
		s.writeErrorLocked(w, CodeInvalidClient, "Unknown client_id.")
		return false
	}
	if withSecret && s.opts.ClientSecret != "" &&
		subtle.ConstantTimeCompare([]byte(form.Get("client_secret")), []byte(s.opts.ClientSecret)) != 1 {
		s.writeErrorLocked(w, CodeInvalidClient, "Client authentication failed: the client_secret is missing or wrong.")
		return false
	}
	return true
}

// handleToken serves the token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, _ *http.Request, form url.Values, formErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if formErr != nil {
		s.writeErrorLocked(w, CodeInvalidRequest, "The request body is not a valid form.")
		return
	}
	grantType := form.Get("grant_type")
	if grantType == "" {
		s.writeErrorLocked(w, CodeInvalidRequest, "grant_type is required.")
		return
	}
	if !s.checkClientLocked(w, form, true) {
		return
	}
	switch grantType {
	case GrantAuthorizationCode:
		s.exchangeLocked(w, form)
	case GrantRefreshToken:
		s.refreshLocked(w, form)
	case GrantDeviceCode:
		s.deviceTokenLocked(w, form)
	default:
		if unsupportedGrants[grantType] {
			s.writeErrorLocked(w, CodeUnsupportedGrantType, "This grant_type is not supported.")
			return
		}
		s.writeErrorLocked(w, CodeInvalidRequest, "Unknown grant_type.")
	}
}

// exchangeLocked serves the authorization_code grant. s.mu must be held.
func (s *Server) exchangeLocked(w http.ResponseWriter, form url.Values) {
	code, redirect := form.Get("code"), form.Get("redirect_uri")
	switch {
	case code == "":
		s.writeErrorLocked(w, CodeInvalidRequest, "code is required.")
		return
	case redirect == "":
		s.writeErrorLocked(w, CodeInvalidRequest, "redirect_uri is required.")
		return
	}
	c, ok := s.codes[code]
	if ok && s.now().After(c.expiry) {
		delete(s.codes, code)
		ok = false
	}
	switch {
	case !ok:
		s.invalidGrantLocked(w, "The authorization code is invalid, expired or already used.")
		return
	case c.clientID != form.Get("client_id"):
		s.invalidGrantLocked(w, "The authorization code was issued to another client.")
		return
	case c.redirectURI != redirect:
		s.invalidGrantLocked(w, "redirect_uri does not match the one of the authorize request.")
		return
	}
	delete(s.codes, code)
	g, access, refresh := s.newGrantLocked(c.clientID, c.scope)
	s.writeTokenLocked(w, access, refresh, g.scope)
}

// refreshLocked serves the refresh_token grant. s.mu must be held.
func (s *Server) refreshLocked(w http.ResponseWriter, form url.Values) {
	rt := form.Get("refresh_token")
	if rt == "" {
		s.writeErrorLocked(w, CodeInvalidRequest, "refresh_token is required.")
		return
	}
	t, ok := s.refresh[rt]
	switch {
	case !ok:
		s.invalidGrantLocked(w, "The refresh token is invalid, revoked or already used.")
		return
	case t.g.clientID != "" && t.g.clientID != form.Get("client_id"):
		s.invalidGrantLocked(w, "The refresh token was issued to another client.")
		return
	case t.used && s.now().Before(t.usedAt.Add(s.opts.ReuseGrace)):
		s.stats.GraceReuses++
	case t.used:
		if s.opts.ReuseDetection {
			s.stats.ReuseDetected++
			s.stats.FamiliesRevoked++
			s.revokeGrantLocked(t.g)
		}
		s.invalidGrantLocked(w, "The refresh token is invalid, revoked or already used.")
		return
	}
	access, refresh := s.refreshWithLocked(rt, t)
	s.writeTokenLocked(w, access, refresh, t.g.scope)
}

// invalidGrantLocked answers invalid_grant and counts it. s.mu must be
// held.
func (s *Server) invalidGrantLocked(w http.ResponseWriter, desc string) {
	s.stats.InvalidGrant++
	s.writeErrorLocked(w, CodeInvalidGrant, desc)
}

// deviceTokenLocked serves the device_code grant. s.mu must be held.
func (s *Server) deviceTokenLocked(w http.ResponseWriter, form url.Values) {
	dc := form.Get("device_code")
	if dc == "" {
		s.writeErrorLocked(w, CodeInvalidRequest, "device_code is required.")
		return
	}
	d, ok := s.devices[dc]
	if ok && s.now().After(d.expiry) {
		delete(s.devices, dc)
		ok = false
	}
	switch {
	case !ok:
		s.writeErrorLocked(w, CodeExpiredToken, "The device code is unknown, expired or already used.")
		return
	case d.clientID != form.Get("client_id"):
		s.invalidGrantLocked(w, "The device code was issued to another client.")
		return
	}
	d.polls++
	switch {
	case d.polls <= s.opts.DeviceSlowDown:
		s.writeErrorLocked(w, CodeSlowDown, "Polling too fast: slow down.")
	case d.polls <= s.opts.DeviceSlowDown+s.opts.DevicePending:
		s.writeErrorLocked(w, CodeAuthorizationPending, "The user has not yet approved the device.")
	case s.opts.Deny:
		delete(s.devices, dc)
		s.writeErrorLocked(w, CodeAccessDenied, "The user denied the authorization request.")
	default:
		delete(s.devices, dc)
		g, access, refresh := s.newGrantLocked(d.clientID, d.scope)
		s.writeTokenLocked(w, access, refresh, g.scope)
	}
}

// writeTokenLocked answers a token response. s.mu must be held.
func (s *Server) writeTokenLocked(w http.ResponseWriter, access, refresh, scope string) {
	expiresIn := s.opts.ExpiresInJSON
	switch {
	case s.opts.OmitExpiresIn:
		expiresIn = ""
	case expiresIn == "":
		expiresIn = strconv.Quote(strconv.FormatInt(s.lifetimeSecondsLocked(), 10))
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenBody(access, refresh, expiresIn, scope))
}

// deviceAuthResponse is the device authorization response of RFC 8628.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// handleDeviceAuthorize starts a device flow.
func (s *Server) handleDeviceAuthorize(w http.ResponseWriter, _ *http.Request, form url.Values, formErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if formErr != nil {
		s.writeErrorLocked(w, CodeInvalidRequest, "The request body is not a valid form.")
		return
	}
	// Device clients are public: golang.org/x/oauth2 sends no secret here.
	if !s.checkClientLocked(w, form, false) {
		return
	}
	// UltraCart's oauthDeviceAuthorize requires the scope.
	scope := form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		s.writeErrorLocked(w, CodeInvalidRequest, "scope is required.")
		return
	}
	dc := newSecret(DeviceCodePrefix)
	user := newUserCode()
	s.devices[dc] = &deviceGrant{
		clientID: form.Get("client_id"),
		userCode: user,
		scope:    scope,
		expiry:   s.now().Add(DeviceCodeLifetime),
	}
	verify := s.URL + DevicePath
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, mustJSON(deviceAuthResponse{
		DeviceCode:              dc,
		UserCode:                user,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(user),
		ExpiresIn:               int64(DeviceCodeLifetime / time.Second),
		Interval:                s.deviceIntervalSeconds(),
	}))
}

// handleDevicePage serves a placeholder verification page.
func (s *Server) handleDevicePage(w http.ResponseWriter, _ *http.Request, _ url.Values, _ error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("UltraCart device verification (fake): devices are approved automatically.\n"))
}

// revokeResponse is UltraCart's answer to a revoke request.
type revokeResponse struct {
	Successful bool   `json:"successful"`
	Message    string `json:"message"`
}

// handleRevoke revokes the grant of an access or refresh token.
func (s *Server) handleRevoke(w http.ResponseWriter, _ *http.Request, form url.Values, formErr error) {
	const more = "The revoke request needs client_id and token in its form."
	bad := func(status int, msg string) {
		writeEnvelope(w, status, msg, msg, more)
	}
	switch {
	case formErr != nil:
		bad(http.StatusBadRequest, "The request body is not a valid form.")
		return
	case form.Get("client_id") == "":
		bad(http.StatusBadRequest, "client_id is required.")
		return
	case form.Get("token") == "":
		bad(http.StatusBadRequest, "token is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.ClientID != "" && form.Get("client_id") != s.opts.ClientID {
		bad(http.StatusUnauthorized, "Unknown client_id.")
		return
	}
	tok := form.Get("token")
	var g *grant
	if a, ok := s.access[tok]; ok {
		g = a.g
	} else if r, ok := s.refresh[tok]; ok {
		g = r.g
	}
	if g == nil {
		writeJSON(w, http.StatusOK, mustJSON(revokeResponse{Message: "Token not found."}))
		return
	}
	s.revokeGrantLocked(g)
	writeJSON(w, http.StatusOK, mustJSON(revokeResponse{Successful: true, Message: "Token revoked."}))
}
