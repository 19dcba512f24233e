package ultracart

import (
	"strings"

	"golang.org/x/oauth2"
)

// Endpoint is UltraCart's OAuth 2.0 endpoint, for an [oauth2.Config]; a zero
// Endpoint in a [Config] means this one. UltraCart reads client_id (and
// client_secret, when one is set) from the form body, hence
// [oauth2.AuthStyleInParams].
//
// The Endpoint alone does not make a plain oauth2.Config speak UltraCart's
// dialect: put [NewContext] under its calls, or use a [Config].
var Endpoint = oauth2.Endpoint{
	AuthURL:       "https://secure.ultracart.com/rest/v2/oauth/authorize",
	DeviceAuthURL: "https://secure.ultracart.com/rest/v2/oauth/device/authorize",
	TokenURL:      "https://secure.ultracart.com/rest/v2/oauth/token",
	AuthStyle:     oauth2.AuthStyleInParams,
}

// RevokeURL is UltraCart's token revocation endpoint, where [Revoke] goes
// when the Endpoint it is given is zero.
const RevokeURL = "https://secure.ultracart.com/rest/v2/oauth/revoke"

// APIVersion is the UltraCart REST API version that the package asks for, in
// the [APIVersionHeader] header. Every request the package makes carries it:
// the OAuth calls (the authorize link aside), the revoke call and the REST
// calls made through the client of [NewClient] (a REST call that names
// another version keeps it).
const APIVersion = "2017-03-01"

// APIVersionHeader is the name of the header that carries [APIVersion].
const APIVersionHeader = "X-UltraCart-Api-Version"

// EndpointAt is [Endpoint] with another base URL, such as a sandbox, a proxy
// or a fake server. The base URL is the part before "/oauth/…", and a
// trailing slash on it is ignored:
//
//	var sandbox = &ultracart.Config{Config: oauth2.Config{
//		ClientID: "my-client-id",
//		// TokenURL "https://sandbox.example/rest/v2/oauth/token", and so on.
//		Endpoint: ultracart.EndpointAt("https://sandbox.example/rest/v2"),
//	}}
func EndpointAt(baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	return oauth2.Endpoint{
		AuthURL:       base + "/oauth/authorize",
		DeviceAuthURL: base + "/oauth/device/authorize",
		TokenURL:      base + "/oauth/token",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// withEndpoint returns a copy of conf whose zero Endpoint is [Endpoint]. It
// builds a new value rather than copying *conf, whose unexported cache must
// not be copied.
func withEndpoint(conf *oauth2.Config) *oauth2.Config {
	ep := conf.Endpoint
	if ep == (oauth2.Endpoint{}) {
		ep = Endpoint
	}
	return &oauth2.Config{
		ClientID:     conf.ClientID,
		ClientSecret: conf.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  conf.RedirectURL,
		Scopes:       conf.Scopes,
	}
}

// Scopes accepted by UltraCart, for [oauth2.Config.Scopes]: a read and a
// write scope for each resource.
const (
	ScopeAffiliateRead        = "affiliate_read"
	ScopeAffiliateWrite       = "affiliate_write"
	ScopeAutoOrderRead        = "auto_order_read"
	ScopeAutoOrderWrite       = "auto_order_write"
	ScopeChannelPartnerRead   = "channel_partner_read"
	ScopeChannelPartnerWrite  = "channel_partner_write"
	ScopeChargebackRead       = "chargeback_read"
	ScopeChargebackWrite      = "chargeback_write"
	ScopeCheckoutRead         = "checkout_read"
	ScopeCheckoutWrite        = "checkout_write"
	ScopeConfigurationRead    = "configuration_read"
	ScopeConfigurationWrite   = "configuration_write"
	ScopeConversationRead     = "conversation_read"
	ScopeConversationWrite    = "conversation_write"
	ScopeCouponRead           = "coupon_read"
	ScopeCouponWrite          = "coupon_write"
	ScopeCustomerRead         = "customer_read"
	ScopeCustomerWrite        = "customer_write"
	ScopeFulfillmentRead      = "fulfillment_read"
	ScopeFulfillmentWrite     = "fulfillment_write"
	ScopeGiftCertificateRead  = "gift_certificate_read"
	ScopeGiftCertificateWrite = "gift_certificate_write"
	ScopeIntegrationLogRead   = "integration_log_read"
	ScopeIntegrationLogWrite  = "integration_log_write"
	ScopeOrderRead            = "order_read"
	ScopeOrderWrite           = "order_write"
	ScopeItemRead             = "item_read"
	ScopeItemWrite            = "item_write"
	ScopeStorefrontRead       = "storefront_read"
	ScopeStorefrontWrite      = "storefront_write"
	ScopeTaxRead              = "tax_read"
	ScopeTaxWrite             = "tax_write"
	ScopeWebhookRead          = "webhook_read"
	ScopeWebhookWrite         = "webhook_write"
	ScopeUltrabooksRead       = "ultrabooks_read"
	ScopeUltrabooksWrite      = "ultrabooks_write"
	ScopeUserRead             = "user_read"
	ScopeUserWrite            = "user_write"
	ScopeWorkflowRead         = "workflow_read"
	ScopeWorkflowWrite        = "workflow_write"
)
