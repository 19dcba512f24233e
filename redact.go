package ultracart

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// redacted replaces a secret found in a text that goes into an error.
const redacted = "[redacted]"

// redactor removes the secrets a request carried from the texts of a
// response that go into an [*Error], so that a server or proxy that echoes a
// request cannot make the package leak it. The zero value removes nothing.
type redactor struct {
	secrets []string
}

// add registers each secret for removal, in every form a server may echo
// it in that can be predicted (see encodings).
func (r *redactor) add(secrets ...string) {
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, encodings(s)...)
		}
	}
	// Longest first, so that a secret that holds another is removed whole.
	slices.SortFunc(r.secrets, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	r.secrets = slices.Compact(r.secrets)
}

// encodings returns s as it is and as the usual encoders write it: query-
// and path-escaped, inside a JSON string (with encoding/json's HTML
// escaping, \u003c, and without), and HTML-escaped (&lt;, &#39;).
func encodings(s string) []string {
	return []string{s, url.QueryEscape(s), url.PathEscape(s), jsonEscape(s, true), jsonEscape(s, false), html.EscapeString(s)}
}

// jsonEscape returns s as encoding/json writes it inside a string.
func jsonEscape(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string: cannot fail
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// addAuthorization registers the credentials of an Authorization header:
// for Basic, the encoded pair and the password inside it, as sent (x/oauth2
// URL-encodes it first, as RFC 6749 section 2.3.1 asks) and decoded.
func (r *redactor) addAuthorization(h string) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return
	}
	cred = strings.TrimSpace(cred)
	r.add(cred)
	if !strings.EqualFold(scheme, "Basic") {
		return
	}
	pair, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return
	}
	if _, password, ok := strings.Cut(string(pair), ":"); ok {
		r.add(password)
		if p, err := url.QueryUnescape(password); err == nil {
			r.add(p)
		}
	}
}

// addForm registers every secret-bearing field of an OAuth request form.
func (r *redactor) addForm(form url.Values) {
	for _, k := range []string{"code", "refresh_token", "client_secret", "device_code", "token", "password", "code_verifier", "client_assertion"} {
		r.add(form[k]...)
	}
}

// clean returns s with every registered secret replaced.
func (r *redactor) clean(s string) string {
	if r == nil {
		return s
	}
	for _, secret := range r.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// maxExcerpt is how many bytes of a body that is not JSON an error quotes.
const maxExcerpt = 160

// excerpt returns the start of body on one line, with the secrets removed
// before it is cut so that no prefix of a secret survives the cut.
func excerpt(body []byte, r *redactor) string {
	s := strings.TrimSpace(r.clean(strings.ToValidUTF8(string(body), "\uFFFD")))
	var b strings.Builder
	space := false
	for i, c := range s {
		if b.Len() >= maxExcerpt {
			// Cut at a rune boundary, and say so.
			if i < len(s) {
				b.WriteString("…")
			}
			break
		}
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
	}
	return b.String()
}

// requestSecrets returns a redactor of the secrets of a request whose form
// is form: its Authorization header and the secret-bearing fields of form.
func requestSecrets(req *http.Request, form url.Values) *redactor {
	r := new(redactor)
	r.addAuthorization(req.Header.Get("Authorization"))
	r.addForm(form)
	return r
}
