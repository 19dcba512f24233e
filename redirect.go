package ultracart

// The redirect policy: no request of this package follows a redirect to
// another origin (scheme, host and port), and no token is sent to one. The
// client of [NewContext] refuses such a redirect; the client of [NewClient]
// follows it without the Authorization header.

import (
	"net/http"
	"net/url"
	"strings"
)

// foreignRedirect reports whether resp redirects req to another origin, and
// names that origin ("an unparsable URL" when the Location is not one).
func foreignRedirect(req *http.Request, resp *http.Response) (string, bool) {
	loc := resp.Header.Get("Location")
	if loc == "" || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return "", false
	}
	u, err := req.URL.Parse(loc)
	if err != nil {
		return "an unparsable URL", true
	}
	return origin(u), !sameOrigin(req.URL, u)
}

// sameOriginRedirects returns an [http.Client.CheckRedirect] that refuses a
// redirect to another origin with an [*Error], then defers to next (or to the
// standard limit of 10 redirects).
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(via[0].URL, req.URL) {
			var r redactor
			r.addAuthorization(via[0].Header.Get("Authorization"))
			e := &Error{Description: r.clean("refused to follow a redirect to another origin (" + origin(req.URL) + ")")}
			if req.Response != nil {
				e.StatusCode = req.Response.StatusCode
			}
			return e
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return &Error{Description: "stopped after 10 redirects"}
		}
		return nil
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

// port returns u's port, or the default port of its scheme.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// origin returns u's scheme and host, for an error's text.
func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + u.Host
}

// redirectedElsewhere reports whether req is a redirect, made by
// [http.Client], to an origin other than that of the request that started the
// chain.
func redirectedElsewhere(req *http.Request) bool {
	first := firstRequest(req)
	return first != req && !sameOrigin(first.URL, req.URL)
}

// firstRequest returns the request that started the redirect chain of req
// (req itself when it is not a redirect made by [http.Client]).
func firstRequest(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}
