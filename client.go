package ultracart

import (
	"context"
	"errors"
	"io"
	"net/http"

	"golang.org/x/oauth2"
)

// NewClient is [oauth2.NewClient] for UltraCart's REST API: the client it
// returns sends every request with a Bearer token from src and the
// X-UltraCart-Api-Version header, and replaces a token the API rejects. src
// must be safe for concurrent use; the sources of [PersistentTokenSource] and
// [Config.TokenSource] are, and refresh the token when it expires.
//
// When the REST API answers 401 to a request that carried src's token and
// src implements [Invalidator] (the sources of this package do), the client
// reports the token as rejected and gets a token again. When that gives a
// different token and the request can be sent again (it has no body, or
// [http.Request.GetBody] is set), the client retries it once with the new
// token and returns the retry's response. A request is never retried twice.
// When no token can be got, the request fails with that error, e.g. one
// matching [ErrInvalidGrant]: the merchant must authorize the application
// again. A 401 the client does not recover from (the retry was rejected
// too, the request could not be sent again, or src kept its token, as the
// sources of this package do for a while after replacing a rejected token:
// see [Invalidator]) fails the request with an [*Error] built from the
// response that matches [ErrInvalidToken].
//
// When a redirect leads to another origin (scheme, host or port), the
// redirected request carries no Authorization header at all, so the token
// never reaches a host it was not meant for. A request that already names an
// API version keeps it.
//
// The client's transport wraps the one of the client under ctx's
// [oauth2.HTTPClient] key ([http.DefaultTransport] when there is none), and
// the client keeps its CheckRedirect, Jar and Timeout. ctx is not used
// otherwise: each request carries its own context. NewClient uses src as it
// is, without wrapping it in [oauth2.ReuseTokenSource]: the sources of this
// package already cache their token.
func NewClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	parent := contextClient(ctx)
	return &http.Client{
		Transport:     &bearerTransport{src: src, base: parent.Transport},
		CheckRedirect: parent.CheckRedirect,
		Jar:           parent.Jar,
		Timeout:       parent.Timeout,
	}
}

// sharedTokenSource is implemented by the sources of this package: they can
// hand the client their cached token without copying it, since the client
// only reads it.
type sharedTokenSource interface {
	sharedToken() (*oauth2.Token, error)
}

// bearerTransport authorizes requests with a token from src, and retries a
// request once after a 401 when src is an [Invalidator] (see [NewClient]).
type bearerTransport struct {
	src  oauth2.TokenSource
	base http.RoundTripper
}

// token gets a token from src, without a copy when src allows it.
func (t *bearerTransport) token() (*oauth2.Token, error) {
	if s, ok := t.src.(sharedTokenSource); ok {
		return s.sharedToken()
	}
	return t.src.Token()
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
	if redirectedElsewhere(req) {
		req2 := req.Clone(req.Context())
		req2.Header.Del("Authorization")
		return t.send(req2)
	}
	tok, err := t.token()
	if err != nil {
		closeBody()
		return nil, err
	}
	resp, err := t.send(t.authorized(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	inv, ok := t.src.(Invalidator)
	if !ok {
		return resp, nil
	}
	inv.Invalidate(tok)
	if !replayable(req) {
		// The next request gets a new token; this one cannot be sent again.
		return nil, rejection(resp)
	}
	tok2, err := t.token()
	if err != nil {
		drain(resp)
		return nil, err
	}
	if tok2.AccessToken == tok.AccessToken {
		return nil, rejection(resp) // the source keeps its token (see NewClient)
	}
	req2 := t.authorized(req, tok2)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			// The 401 stands: the retry could not be made.
			return nil, rejection(resp)
		}
		req2.Body = body
	}
	drain(resp)
	resp, err = t.send(req2)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, rejection(resp)
	}
	if a, ok := t.src.(acceptor); ok {
		a.accepted(tok2)
	}
	return resp, nil
}

// acceptor is implemented by the sources of this package: the client tells
// them that the token that replaced a rejected one was accepted, which ends
// the pause that follows such a replacement (see NewClient).
type acceptor interface {
	accepted(tok *oauth2.Token)
}

// rejection is the error of a request that ends with the REST API's 401:
// an [*Error] that matches [ErrInvalidToken].
func rejection(resp *http.Response) error {
	err := CheckResponse(resp)
	resp.Body.Close()
	return err
}

// authorized returns a copy of req that carries tok.
func (t *bearerTransport) authorized(req *http.Request, tok *oauth2.Token) *http.Request {
	req2 := req.Clone(req.Context())
	tok.SetAuthHeader(req2)
	return req2
}

// send adds the version header and sends req through the base transport.
func (t *bearerTransport) send(req *http.Request) (*http.Response, error) {
	if req.Header.Get(APIVersionHeader) == "" {
		req.Header.Set(APIVersionHeader, APIVersion)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// replayable reports whether req can be sent a second time.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// drain reads a little of a response that is not returned, so that its
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}
