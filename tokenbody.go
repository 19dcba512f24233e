package ultracart

import (
	"encoding/json"
	"strconv"
)

// The fast path of the token-response translation.
//
// Most successful token responses need little or no work: an RFC 6749 body
// (a numeric expires_in, no envelope) is already what x/oauth2 reads, and
// UltraCart's own differs only in its string expires_in. fastTokenBody
// recognizes those two without decoding the body into values: it checks that
// the body is valid JSON, then walks the members of its top-level object
// once, and either hands the body back as it is or rewrites the one value.
// Anything it is not sure of (an error member, a member whose name x/oauth2
// would match only case-insensitively, a repeated member, a value of an
// unexpected type, an expires_in it would have to drop) goes to the full
// translation, which decides as before. FuzzFastTokenBody checks that both
// give the same object whenever the fast path answers.

// tokenMember is a top-level member of a token response that fastTokenBody
// looks at: x/oauth2 reads each of them, matching names case-insensitively.
type tokenMember int

const (
	memberOther tokenMember = iota
	memberAccessToken
	memberTokenType
	memberRefreshToken
	memberExpiresIn
	memberError
	memberErrorDescription
	memberErrorURI
)

var tokenMemberNames = [...]string{
	memberAccessToken:      "access_token",
	memberTokenType:        "token_type",
	memberRefreshToken:     "refresh_token",
	memberExpiresIn:        "expires_in",
	memberError:            "error",
	memberErrorDescription: "error_description",
	memberErrorURI:         "error_uri",
}

// fastTokenBody returns the RFC 6749 form of the body of a successful (2xx)
// token response, when it can be had without decoding the body: body itself
// when it already is in that form, or body with only its expires_in
// rewritten as a whole number of seconds. ok is false when the full
// translation must decide.
func fastTokenBody(body []byte) (out []byte, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	sc := objectScanner{b: body}
	if !sc.open() {
		return nil, false
	}
	var seen [len(tokenMemberNames)]bool
	var hasAccess bool
	expStart, expEnd := -1, -1
	for {
		key, vs, ve, more, ok := sc.next()
		if !ok {
			return nil, false
		}
		if !more {
			break
		}
		m, exact := matchMember(key)
		if m == memberOther {
			continue
		}
		if !exact || seen[m] {
			return nil, false
		}
		seen[m] = true
		val := body[vs:ve]
		switch m {
		case memberAccessToken:
			if val[0] != '"' || len(val) == 2 { // not a string, or ""
				return nil, false
			}
			hasAccess = true
		case memberTokenType, memberRefreshToken:
			if val[0] != '"' && string(val) != "null" {
				return nil, false
			}
		case memberExpiresIn:
			expStart, expEnd = vs, ve
		default: // an error member, even an empty one: let the translation judge
			return nil, false
		}
	}
	if !hasAccess {
		return nil, false
	}
	if expStart < 0 {
		return body, true
	}
	raw := body[expStart:expEnd]
	if plainSeconds(raw) {
		return body, true
	}
	n, ok := parseExpiresIn(raw)
	if !ok {
		return nil, false // null, empty or no number: the translation removes the member
	}
	out = make([]byte, 0, len(body)+10)
	out = append(out, body[:expStart]...)
	out = strconv.AppendInt(out, n, 10)
	return append(out, body[expEnd:]...), true
}

// plainSeconds reports whether raw is a JSON number that x/oauth2 reads as
// the translation would: a positive integer of at most nine digits, so
// below math.MaxInt32.
func plainSeconds(raw []byte) bool {
	if len(raw) == 0 || len(raw) > 9 || raw[0] == '0' {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// matchMember returns the member of a token response that x/oauth2 would
// fill from a member named key, and whether key is that member's exact
// name. A key with an escape or a byte outside ASCII is reported as an
// inexact match of a made-up member, since encoding/json's case folding
// reaches beyond ASCII (the Kelvin sign matches k).
func matchMember(key []byte) (tokenMember, bool) {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return memberError, false
		}
	}
	for m, name := range tokenMemberNames {
		if m == 0 || len(name) != len(key) {
			continue
		}
		exact, fold := true, true
		for i := range key {
			c, n := key[i], name[i]
			if c != n {
				exact = false
				if c|0x20 != n || n < 'a' || n > 'z' {
					fold = false
					break
				}
			}
		}
		if fold {
			return tokenMember(m), exact
		}
	}
	return memberOther, false
}

// objectScanner walks the members of the top-level JSON object in b, which
// json.Valid has accepted. It does not allocate. Its methods report false
// when b is not an object, and never read out of bounds whatever b holds.
type objectScanner struct {
	b []byte
	i int
}

func (s *objectScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// open consumes the object's opening brace.
func (s *objectScanner) open() bool {
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	return true
}

// next returns the next member: its key (the bytes between the quotes, not
// unescaped) and the bounds of its value in b. more is false at the
// object's end; ok is false when b does not hold what was expected.
func (s *objectScanner) next() (key []byte, vs, ve int, more, ok bool) {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ',' {
		s.i++
		s.skipSpace()
	}
	if s.i >= len(s.b) {
		return nil, 0, 0, false, false
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, 0, 0, false, true
	}
	ks := s.i
	ke, ok := skipString(s.b, ks)
	if !ok {
		return nil, 0, 0, false, false
	}
	s.i = ke
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, 0, 0, false, false
	}
	s.i++
	s.skipSpace()
	vs = s.i
	ve, ok = skipValue(s.b, vs)
	if !ok {
		return nil, 0, 0, false, false
	}
	s.i = ve
	return s.b[ks+1 : ke-1], vs, ve, true, true
}

// skipString returns the index just past the JSON string that starts at i.
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the JSON value that starts at i.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, i > start
		}
		i++
	}
	return i, i > start
}
