package main

import (
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// explain adds to an error from UltraCart what to change to fix it: the
// endpoint when nothing answers at the URL, the client id when UltraCart
// does not know the client.
func explain(err error, o *options) error {
	var ue *ultracart.Error
	if o == nil || !errors.As(err, &ue) {
		return err
	}
	switch {
	case ue.StatusCode == 404:
		where := o.endpointURL()
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.Request != nil {
			u := *re.Response.Request.URL
			u.RawQuery, u.User = "", (*url.Userinfo)(nil)
			where = u.String()
		}
		return fmt.Errorf("%w; nothing answers at %s: check --endpoint (or ULTRACART_ENDPOINT), UltraCart's is %s",
			err, where, defaultEndpoint)
	case ue.Code == "invalid_client":
		return fmt.Errorf("%w; UltraCart does not know client id %q or its secret: check --client-id (or ULTRACART_CLIENT_ID) "+
			"and the secret (ULTRACART_CLIENT_SECRET or --client-secret-file)", err, o.clientID)
	}
	return err
}
