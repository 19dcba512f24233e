package main

import (
	"encoding/json"
	"html"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/oauth2"
)

// redactor replaces every secret the command knows (the access and
// refresh tokens, the client secret, the authorization code, the device
// code and the state) in what the command writes, whatever quoted it: an
// error of the library, a URL a server redirected to, a body it echoed.
// The nil *redactor replaces nothing. It is safe for concurrent use.
type redactor struct {
	mu      sync.Mutex
	secrets []string // every form of every secret, longest first
}

// secretForms are the forms in which a message can carry a secret: as it
// is, query-, path-, JSON- (with and without HTML escaping), Go- and
// HTML-escaped.
var secretForms = []func(string) string{
	func(s string) string { return s },
	url.QueryEscape,
	url.PathEscape,
	jsonEscape(true),
	jsonEscape(false),
	func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] },
	html.EscapeString,
}

// jsonEscape returns the function that writes a string as encoding/json
// does between its quotes.
func jsonEscape(escapeHTML bool) func(string) string {
	return func(s string) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		_ = enc.Encode(s)
		q := strings.TrimSuffix(b.String(), "\n")
		return q[1 : len(q)-1]
	}
}

// add registers secrets; an empty one is ignored.
func (r *redactor) add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range secretForms {
			if f := form(s); !slices.Contains(r.secrets, f) {
				r.secrets = append(r.secrets, f)
			}
		}
	}
	// A secret that holds another is replaced whole.
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// addToken registers the secrets of tok.
func (r *redactor) addToken(tok *oauth2.Token) {
	if tok != nil {
		r.add(tok.AccessToken, tok.RefreshToken)
	}
}

// clean returns s with every form of every secret replaced.
func (r *redactor) clean(s string) string {
	if r == nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// writer returns w with what is written to it cleaned first. The command
// writes whole lines, so that no secret is split between two writes.
func (r *redactor) writer(w io.Writer) io.Writer { return redactWriter{r, w} }

type redactWriter struct {
	r *redactor
	w io.Writer
}

func (rw redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.clean(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
