package ultracarttest

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// Prefixes of the credentials the server mints, so that tests can tell
// their kinds apart. Each is followed by 160 random bits in hex.
const (
	// AccessTokenPrefix starts every access token.
	AccessTokenPrefix = "uc-at-"
	// RefreshTokenPrefix starts every refresh token.
	RefreshTokenPrefix = "uc-rt-"
	// CodePrefix starts every authorization code.
	CodePrefix = "uc-code-"
	// DeviceCodePrefix starts every device code.
	DeviceCodePrefix = "uc-dc-"
)

// grant is what an approval produced: one live access token and one live
// refresh token, replaced on refresh and killed together on revoke.
type grant struct {
	clientID string // "" for IssueToken grants: any client may refresh
	scope    string
	access   string
	refresh  string
	expiry   time.Time // of the access token
	expired  bool      // forced by ExpireAccessTokens
}

// authCode is an authorization code waiting to be exchanged.
type authCode struct {
	clientID    string
	redirectURI string // the effective redirect URI of the authorize request
	scope       string
	expiry      time.Time
}

// deviceGrant is a device code waiting to be polled.
type deviceGrant struct {
	clientID string
	userCode string
	scope    string
	expiry   time.Time
	polls    int
}

// newSecret returns prefix followed by 160 random bits in hex.
func newSecret(prefix string) string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // never fails; it crashes the program instead
	return prefix + hex.EncodeToString(b)
}

// userCodeAlphabet has no vowels and no look-alike characters (RFC 8628
// section 6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newUserCode returns a code such as "BCDF-GHJK".
func newUserCode() string {
	out := make([]byte, 0, 9)
	var b [1]byte
	for len(out) < 9 {
		if len(out) == 4 {
			out = append(out, '-')
			continue
		}
		_, _ = rand.Read(b[:])
		// Rejection sampling keeps the choice uniform.
		if int(b[0]) >= 256/len(userCodeAlphabet)*len(userCodeAlphabet) {
			continue
		}
		out = append(out, userCodeAlphabet[int(b[0])%len(userCodeAlphabet)])
	}
	return string(out)
}

// newGrantLocked mints a grant and registers its tokens. s.mu must be held.
func (s *Server) newGrantLocked(clientID, scope string) *grant {
	g := &grant{
		clientID: clientID,
		scope:    scope,
		access:   newSecret(AccessTokenPrefix),
		refresh:  newSecret(RefreshTokenPrefix),
		expiry:   time.Now().Add(s.lifetime),
	}
	s.access[g.access] = g
	s.refresh[g.refresh] = g
	s.grants = append(s.grants, g)
	return g
}

// refreshGrantLocked replaces the access token of g and, when rotation is
// on, its refresh token. s.mu must be held.
func (s *Server) refreshGrantLocked(g *grant) {
	delete(s.access, g.access)
	g.access = newSecret(AccessTokenPrefix)
	g.expiry = time.Now().Add(s.lifetime)
	g.expired = false
	s.access[g.access] = g
	if s.rotate {
		delete(s.refresh, g.refresh)
		g.refresh = newSecret(RefreshTokenPrefix)
		s.refresh[g.refresh] = g
	}
}

// revokeGrantLocked kills both tokens of g. s.mu must be held.
func (s *Server) revokeGrantLocked(g *grant) {
	delete(s.access, g.access)
	delete(s.refresh, g.refresh)
}

// liveAccessLocked reports whether tok is a live, unexpired access token.
// s.mu must be held.
func (s *Server) liveAccessLocked(tok string) bool {
	g, ok := s.access[tok]
	return ok && !g.expired && time.Now().Before(g.expiry)
}

// lifetimeSecondsLocked returns the whole seconds of the token lifetime.
// s.mu must be held.
func (s *Server) lifetimeSecondsLocked() int64 {
	secs := int64(s.lifetime / time.Second)
	if secs < 0 {
		return 0
	}
	return secs
}

// IssueToken mints a grant directly, without the browser flow, as if a
// user had approved the given scope (DefaultScope when empty). The token it
// returns has AccessToken, RefreshToken, TokenType "bearer", Expiry now
// plus the token lifetime, ExpiresIn, and the scope as its "scope" extra.
// Any client_id may refresh it.
func (s *Server) IssueToken(scope string) *oauth2.Token {
	if scope == "" {
		scope = DefaultScope
	}
	s.mu.Lock()
	g := s.newGrantLocked("", scope)
	secs := s.lifetimeSecondsLocked()
	tok := &oauth2.Token{
		AccessToken:  g.access,
		TokenType:    "bearer",
		RefreshToken: g.refresh,
		Expiry:       g.expiry,
		ExpiresIn:    secs,
	}
	s.mu.Unlock()
	return tok.WithExtra(map[string]any{
		"scope":      scope,
		"expires_in": strconv.FormatInt(secs, 10),
	})
}

// ExpireAccessTokens makes every access token issued so far expired: the
// protected resource answers them 401, as if their lifetime had passed.
// Their refresh tokens stay valid, so callers can force a refresh. Access
// tokens issued later are not affected.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		g.expired = true
	}
}
