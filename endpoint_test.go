package ultracart_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

func TestEndpointAt(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8080/rest/v2", "http://127.0.0.1:8080/rest/v2/"} {
		ep := ultracart.EndpointAt(base)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/token", ep.TokenURL)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/authorize", ep.AuthURL)
		assert.Equal(t, "http://127.0.0.1:8080/rest/v2/oauth/device/authorize", ep.DeviceAuthURL)
		assert.Equal(t, oauth2.AuthStyleInParams, ep.AuthStyle)
	}
	assert.Equal(t, ultracart.Endpoint, ultracart.EndpointAt("https://secure.ultracart.com/rest/v2"))
}
