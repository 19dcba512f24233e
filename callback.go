package ultracart

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
)

// NewState returns a fresh, unguessable state value for
// [Config.AuthCodeURL]: 256 bits from [crypto/rand], URL-safe base64 without
// padding. Keep it where the callback finds it again (a short-lived cookie or
// the session) and check it there with [ParseCallback].
func NewState() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails; crashes the program if the system has no randomness
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCallback checks UltraCart's redirect back to the application and
// returns its authorization code, for [Config.Exchange]. state is the value
// that went into [Config.AuthCodeURL].
//
// It checks the state first, in constant time: a missing or different state
// (and an empty state argument) is [ErrStateMismatch], whatever else the
// redirect says. A redirect with an error parameter is an [*Error]:
// [errors.Is] matches [ErrAccessDenied] when the merchant declined,
// [ErrInvalidRequest] when the authorize link expired. A redirect with
// neither a code nor an error is an error too. No error text contains either
// state value or the code.
func ParseCallback(r *http.Request, state string) (code string, err error) {
	q := r.URL.Query()
	got := q["state"]
	if state == "" || len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(state)) != 1 {
		return "", ErrStateMismatch
	}
	var rd redactor
	rd.add(state)
	rd.add(q["code"]...)
	if c := q.Get("error"); c != "" {
		return "", &Error{
			Code:        rd.clean(c),
			Description: rd.clean(q.Get("error_description")),
			URI:         rd.clean(q.Get("error_uri")),
		}
	}
	code = q.Get("code")
	if code == "" {
		return "", errors.New("ultracart: the callback carries neither a code nor an error")
	}
	return code, nil
}
