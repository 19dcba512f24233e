package ultracart

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// NewClient is oauth2.NewClient for UltraCart. The client it returns sends
// "Authorization: Bearer" with a token from src, which refreshes it when it
// expires, and adds X-UltraCart-Api-Version to every request that lacks it.
// When a redirect leads to another origin (scheme, host or port), the
// redirected request carries no Authorization header at all, so the token
// never reaches a host it was not meant for.
//
// The client's transport wraps the one of the client under ctx's
// oauth2.HTTPClient key (http.DefaultTransport when there is none), and
// keeps its CheckRedirect, Jar and Timeout. ctx is not used otherwise: each
// request carries its own context.
//
// NewClient uses src as it is, without wrapping it in
// oauth2.ReuseTokenSource: the sources of this package (Config.TokenSource,
// PersistentTokenSource) already cache their token. src must be safe for
// concurrent use.
func NewClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	parent := contextClient(ctx)
	return &http.Client{
		Transport:     &bearerTransport{src: src, base: parent.Transport},
		CheckRedirect: parent.CheckRedirect,
		Jar:           parent.Jar,
		Timeout:       parent.Timeout,
	}
}

// bearerTransport authorizes requests with a token from src.
type bearerTransport struct {
	src  oauth2.TokenSource
	base http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must close the request body, even when it fails.
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.src == nil {
		closeBody()
		return nil, errors.New("ultracart: the client's token source is nil")
	}
	foreign := redirectedElsewhere(req)
	var tok *oauth2.Token
	if !foreign {
		var err error
		if tok, err = t.src.Token(); err != nil {
			closeBody()
			return nil, err
		}
	}
	req2 := req.Clone(req.Context())
	if foreign {
		req2.Header.Del("Authorization")
	} else {
		tok.SetAuthHeader(req2)
	}
	if req2.Header.Get(APIVersionHeader) == "" {
		req2.Header.Set(APIVersionHeader, APIVersion)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req2)
}

// redirectedElsewhere reports whether req is a redirect, made by
// http.Client, to an origin other than that of the request that started the
// chain.
func redirectedElsewhere(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return first != req && !sameOrigin(first.URL, req.URL)
}
