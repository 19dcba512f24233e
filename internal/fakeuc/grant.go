package fakeuc

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

// grant is one authorization, the root of a token family: every access
// and refresh token descended from it by refreshes. A revoke, or a detected
// reuse, kills the whole family.
type grant struct {
	clientID string // "" for IssueToken grants: any client may refresh
	scope    string
	tokens   []string // every access and refresh token of the family
}

// accessToken is one access token of a family.
type accessToken struct {
	g       *grant
	expiry  time.Time
	expired bool // forced by ExpireAccessTokens
}

// refreshToken is one refresh token of a family. A used token stays known,
// so that presenting it again is a reuse, not an unknown token.
type refreshToken struct {
	g      *grant
	access string    // the access token issued with it
	used   bool      // rotated away by a refresh
	usedAt time.Time // of its first use, by the server's clock
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

// newGrantLocked mints a grant with its first tokens. s.mu must be held.
func (s *Server) newGrantLocked(clientID, scope string) (g *grant, access, refresh string) {
	g = &grant{clientID: clientID, scope: scope}
	access = s.newAccessLocked(g)
	refresh = s.newRefreshLocked(g, access)
	return g, access, refresh
}

// newAccessLocked mints an access token of g. s.mu must be held.
func (s *Server) newAccessLocked(g *grant) string {
	tok := newSecret(AccessTokenPrefix)
	s.access[tok] = &accessToken{g: g, expiry: s.now().Add(s.lifetime())}
	g.tokens = append(g.tokens, tok)
	return tok
}

// newRefreshLocked mints a refresh token of g issued with access. s.mu must
// be held.
func (s *Server) newRefreshLocked(g *grant, access string) string {
	tok := newSecret(RefreshTokenPrefix)
	s.refresh[tok] = &refreshToken{g: g, access: access}
	g.tokens = append(g.tokens, tok)
	return tok
}

// refreshWithLocked carries out a refresh with rt, whose token is rtTok: it
// replaces the access token issued with rt and, unless KeepRefreshTokens is
// set, marks rt used and mints its successor. It returns the new tokens.
// s.mu must be held.
func (s *Server) refreshWithLocked(rtTok string, rt *refreshToken) (access, refresh string) {
	delete(s.access, rt.access)
	access = s.newAccessLocked(rt.g)
	s.stats.Rotations++
	if s.opts.KeepRefreshTokens {
		rt.access = access
		return access, rtTok
	}
	if !rt.used {
		rt.used, rt.usedAt = true, s.now()
	}
	return access, s.newRefreshLocked(rt.g, access)
}

// revokeGrantLocked kills every token of g's family. s.mu must be held.
func (s *Server) revokeGrantLocked(g *grant) {
	for _, tok := range g.tokens {
		delete(s.access, tok)
		delete(s.refresh, tok)
	}
	g.tokens = nil
}

// liveAccessLocked reports whether tok is a live, unexpired access token.
// s.mu must be held.
func (s *Server) liveAccessLocked(tok string) bool {
	a, ok := s.access[tok]
	return ok && !a.expired && s.now().Before(a.expiry)
}

// lifetimeSecondsLocked returns the whole seconds of the token lifetime.
// s.mu must be held.
func (s *Server) lifetimeSecondsLocked() int64 {
	secs := int64(s.lifetime() / time.Second)
	if secs < 0 {
		return 0
	}
	return secs
}

// IssueToken mints a grant directly, without the browser flow, as if a
// user had approved the given scope (DefaultScope when empty). The token it
// returns has AccessToken, RefreshToken, TokenType "bearer", Expiry the
// server's time plus the token lifetime, ExpiresIn, and the scope as its "scope" extra.
// Any client_id may refresh it.
func (s *Server) IssueToken(scope string) *oauth2.Token {
	if scope == "" {
		scope = DefaultScope
	}
	s.mu.Lock()
	_, access, refresh := s.newGrantLocked("", scope)
	secs := s.lifetimeSecondsLocked()
	tok := &oauth2.Token{
		AccessToken:  access,
		TokenType:    "bearer",
		RefreshToken: refresh,
		Expiry:       s.access[access].expiry,
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
	for _, a := range s.access {
		a.expired = true
	}
}
