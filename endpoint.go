package ultracart

import (
	"strings"

	"golang.org/x/oauth2"
)

// Endpoint is UltraCart's OAuth 2.0 endpoint. UltraCart reads client_id (and
// client_secret, when one is set) from the form body, hence AuthStyleInParams.
var Endpoint = oauth2.Endpoint{
	AuthURL:       "https://secure.ultracart.com/rest/v2/oauth/authorize",
	DeviceAuthURL: "https://secure.ultracart.com/rest/v2/oauth/device/authorize",
	TokenURL:      "https://secure.ultracart.com/rest/v2/oauth/token",
	AuthStyle:     oauth2.AuthStyleInParams,
}

// RevokeURL is UltraCart's token revocation endpoint.
const RevokeURL = "https://secure.ultracart.com/rest/v2/oauth/revoke"

// APIVersion is the value of the X-UltraCart-Api-Version header. Every request
// the package makes carries it: the OAuth calls (the authorize link aside), the
// revoke call and the REST calls made through NewClient's client.
const APIVersion = "2017-03-01"

// APIVersionHeader is the name of the header that carries APIVersion.
const APIVersionHeader = "X-UltraCart-Api-Version"

// EndpointAt is Endpoint with another base URL, such as a sandbox, a proxy or
// a fake server. The base URL is the part before "/oauth/…":
//
//	EndpointAt("http://127.0.0.1:8080/rest/v2").TokenURL == "http://127.0.0.1:8080/rest/v2/oauth/token"
//
// A trailing slash on baseURL is ignored.
func EndpointAt(baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	return oauth2.Endpoint{
		AuthURL:       base + "/oauth/authorize",
		DeviceAuthURL: base + "/oauth/device/authorize",
		TokenURL:      base + "/oauth/token",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// Scopes accepted by UltraCart: a read and a write scope for each resource.
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
