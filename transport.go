package ultracart

// The dialect transport: the client that [NewContext] puts under
// [oauth2.HTTPClient], so that a plain [oauth2.Config] speaks UltraCart's
// dialect. It sends the version header, picks out the token requests (and
// their redirects), refuses redirects to another origin and hands the
// responses to the translation in tokenresponse.go.

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// NewContext returns a copy of ctx that makes a plain [oauth2.Config] speak
// UltraCart's dialect: pass it to the Config's methods (Exchange,
// DeviceAuth, DeviceAccessToken, TokenSource, Client), with [Endpoint] as
// the Config's Endpoint. A [Config] does this itself.
//
// The copy holds, under the [oauth2.HTTPClient] key, an HTTP client that
// wraps any client already there and translates UltraCart's token responses
// into RFC 6749 form:
//
//   - expires_in is accepted as a JSON number or string, with white space
//     around it or a fraction (rounded down); an empty, null, missing,
//     unparseable or non-positive value means "expiry unknown" (a zero
//     Expiry) and never fails the exchange; a value over about 68 years is
//     clamped to that; a member name spelled in another case, which
//     x/oauth2 reads too ("EXPIRES_IN"), is treated the same;
//   - an ErrorResponse envelope, an RFC 6749 error at any status (200
//     included) and a body that is not JSON all become an RFC 6749 error
//     that x/oauth2 reports as an [*oauth2.RetrieveError], whose texts carry
//     no secret of the request; its ErrorCode is invalid_grant for a
//     refresh that UltraCart refused in its envelope (see [ErrInvalidGrant]);
//   - every request carries the X-UltraCart-Api-Version header
//     ([APIVersionHeader]) unless it has one.
//
// Token requests are POSTs whose URL path ends in /oauth/token or
// /oauth/device/authorize, and the redirects they lead to; every other
// response passes through byte for byte. The client never follows a
// redirect to another origin (scheme, host and port): a token request so
// redirected fails with an RFC 6749 error (an [*Error] through [Config]),
// any other request with an *Error. The error of a redirected token request
// (no answer, or a refused redirect) is an *Error that names its URL
// without the request's secrets; x/oauth2 returns it inside http.Client's
// [*url.Error], which quotes the redirect's URL as it is, while [Config]
// and [PersistentTokenSource] return the *Error alone.
// NewContext on a context that already holds such a client returns ctx.
func NewContext(ctx context.Context) context.Context {
	parent := contextClient(ctx)
	if _, ok := parent.Transport.(*dialectTransport); ok {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{
		Transport:     &dialectTransport{base: parent.Transport, ctx: ctx},
		CheckRedirect: sameOriginRedirects(parent.CheckRedirect),
		Jar:           parent.Jar,
		Timeout:       parent.Timeout,
	})
}

// contextClient is the client that x/oauth2 would use with ctx.
func contextClient(ctx context.Context) *http.Client {
	if ctx != nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			return c
		}
	}
	return http.DefaultClient
}

// dialectTransport translates token-endpoint responses; see NewContext.
type dialectTransport struct {
	base http.RoundTripper
	// ctx is used for requests that come without a context of their own:
	// x/oauth2's DeviceAuth sends its request that way.
	ctx context.Context
}

func (t *dialectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A redirect of a token request is still one: its answer is the token
	// response, and the secrets to keep out of errors are the first
	// request's.
	first := firstRequest(req)
	kind := tokenRequestKind(first)
	// Only the device authorization request comes without the caller's
	// context; every other request keeps its own.
	noCtx := kind == deviceAuthCall && req.Context() == context.Background() && t.ctx != nil
	if noCtx || req.Header.Get(APIVersionHeader) == "" {
		ctx := req.Context()
		if noCtx {
			ctx = t.ctx
		}
		// A RoundTripper must not change the request it is given.
		req = req.Clone(ctx)
		if req.Header.Get(APIVersionHeader) == "" {
			req.Header.Set(APIVersionHeader, APIVersion)
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if kind == notToken {
		return base.RoundTrip(req)
	}
	form := requestForm(first)
	r := requestSecrets(first, form)
	resp, err := base.RoundTrip(req)
	if err != nil {
		if req.Response != nil {
			// A redirect: its URL is one the server chose, and may echo
			// a secret. http.Client quotes it in the *url.Error around
			// this error, which wrapError drops for this one.
			return nil, &Error{Err: &url.Error{Op: "Post", URL: r.clean(req.URL.Redacted()), Err: err}}
		}
		return nil, err
	}
	if to, ok := foreignRedirect(req, resp); ok {
		// Refuse here rather than in CheckRedirect: http.Client would wrap
		// that in a *url.Error quoting the whole Location, whose query may
		// echo the request's secrets. Returned as the transport's error,
		// the *Error stays in the chain that x/oauth2 returns (its
		// *url.Error names the URL that was redirected), so errors.As
		// finds it under a plain oauth2.Config too.
		resp.Body.Close()
		e := newResponseError(resp.StatusCode, resp.Header, r)
		e.Description = r.clean("refused to follow a redirect to another origin (" + to + ")")
		return nil, e
	}
	return translate(resp, kind, form.Get("grant_type"), r)
}

// requestForm returns the form of a POST request, read from a copy of its
// body without consuming the body itself; nil when there is none.
func requestForm(req *http.Request) url.Values {
	if req.GetBody == nil {
		return nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return nil
	}
	form, _ := url.ParseQuery(string(b))
	return form
}
