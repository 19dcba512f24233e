package ultracart

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Revoke revokes an access token, and with it the application's
// authorization, at UltraCart. It returns nil only when UltraCart confirms
// the revocation; any other answer, and a request that got no answer, is an
// [*Error].
//
// The revoke endpoint is the one beside conf.Endpoint.TokenURL (…/oauth/token
// → …/oauth/revoke); a zero Endpoint means [RevokeURL]. Revoke sends
// client_id and token (client_secret too when set) and never follows a
// redirect. A confirmation is a 2xx answer whose body says "successful":
// true; "successful": false, an ErrorResponse envelope and any other status
// are errors. Revoke reads at most 1 MiB of the answer, honours ctx and uses
// the client under ctx's [oauth2.HTTPClient] key.
func Revoke(ctx context.Context, conf *oauth2.Config, token string) error {
	if token == "" {
		return errors.New("ultracart: the token to revoke is empty")
	}
	endpoint, err := revokeURL(conf.Endpoint)
	if err != nil {
		return err
	}
	form := url.Values{"client_id": {conf.ClientID}, "token": {token}}
	if conf.ClientSecret != "" {
		form.Set("client_secret", conf.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return errors.New("ultracart: invalid revoke URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(APIVersionHeader, APIVersion)

	client := *contextClient(ctx)
	client.Transport = withoutLocation{client.Transport}
	resp, err := client.Do(req)
	if err != nil {
		return &Error{Err: err}
	}
	var r redactor
	r.addForm(form)
	body, e := readBody(resp, &r)
	if e != nil {
		return e
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		var ok struct {
			Successful bool `json:"successful"`
		}
		if json.Unmarshal(body, &ok) == nil && ok.Successful {
			return nil
		}
	}
	e = errorFromBody(resp.StatusCode, resp.Header, body, &r)
	if e.message() == "" && e.Code == "" {
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode <= 399:
			e.Description = "the revoke endpoint answered with a redirect, which is not followed"
		case resp.StatusCode >= 200 && resp.StatusCode <= 299:
			e.Description = "the revoke endpoint did not confirm the revocation"
		}
	}
	return e
}

// revokeURL derives the revoke endpoint from ep's TokenURL; a zero TokenURL
// means [RevokeURL].
func revokeURL(ep oauth2.Endpoint) (string, error) {
	if ep.TokenURL == "" {
		return RevokeURL, nil
	}
	if base, ok := strings.CutSuffix(ep.TokenURL, "/oauth/token"); ok {
		return base + "/oauth/revoke", nil
	}
	return "", errors.New("ultracart: cannot derive the revoke URL: the token URL does not end in /oauth/token")
}

// withoutLocation is a transport whose answers carry no Location header, so
// that http.Client hands a redirect back as it is: it neither follows it nor
// parses its Location, whose text (which the server chose, and which may
// echo the token) it would quote in an error.
type withoutLocation struct{ base http.RoundTripper }

func (t withoutLocation) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		resp.Header.Del("Location")
	}
	return resp, err
}
