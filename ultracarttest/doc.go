// Package ultracarttest provides an in-process fake of UltraCart's OAuth 2.0
// endpoints, plus one protected REST resource, for tests and examples of
// code that talks to the UltraCart REST API (base path /rest/v2).
//
// A [Server] listens on 127.0.0.1 on a free port, like [net/http/httptest], and
// serves:
//
//   - GET  [AuthorizePath]: the browser link. It answers 302 Found to the
//     redirect URI with a single-use code and the state, or with an OAuth
//     error (see [Options].Deny).
//   - POST [TokenPath]: the authorization_code, refresh_token and
//     urn:ietf:params:oauth:grant-type:device_code grants. Tokens are
//     answered as UltraCart's OauthTokenResponse, whose expires_in is a JSON
//     string ("3600") by default (see [Options].ExpiresInJSON).
//   - POST [DeviceAuthPath]: the start of the device flow (RFC 8628). It
//     requires client_id and scope, as UltraCart's oauthDeviceAuthorize does.
//   - POST [RevokePath]: revokes a whole grant by its access or refresh token.
//   - GET  [ItemsPath]: a protected resource that needs a live bearer access
//     token and the X-UltraCart-Api-Version header set to 2017-03-01
//     (ultracart.APIVersion).
//   - GET  /rest/v2/oauth/device: a placeholder verification page, so that the
//     verification_uri of the device flow resolves; the fake approves
//     devices by itself (see [Options].DevicePending and Deny).
//
// Errors of the token and device endpoints use UltraCart's OAuth form: a JSON
// body {"error":"…","error_description":"…"}, status 400 (401 for
// invalid_client) and the description repeated in the UC-REST-ERROR header,
// or the ErrorResponse envelope that UltraCart's OpenAPI spec declares for
// them (see [Options].TokenErrorEnvelope).
// Other errors use UltraCart's ErrorResponse envelope, also with the
// UC-REST-ERROR header. Error descriptions never repeat a code, token,
// device code or client secret that was sent.
//
// [Options] (set with [Server.SetOptions]) change how the server behaves, including a
// strict mode for refresh token rotation: with ReuseDetection, a used
// refresh token presented again revokes its whole token family, as Ory
// Hydra, Auth0 and Okta do, unless it comes within ReuseGrace. Options.Clock
// lets a test move the server's time instead of sleeping. [Server.Fail] injects
// failures (a status, a delay, a reset connection) per path; [Server.Stats]
// counts token requests, refreshes, API requests and rotations;
// [Server.Requests] tells what the server saw; [Server.IssueToken] and
// [Server.ExpireAccessTokens] shortcut the flows, and [Server.Client]
// authorizes without a browser.
//
// A whole test of code that calls the REST API through a stored token:
//
//	func TestListItems(t *testing.T) {
//		uc := ultracarttest.NewServer()
//		defer uc.Close()
//		ctx := context.Background()
//		conf := &oauth2.Config{ClientID: "my-client-id", Endpoint: uc.Endpoint()}
//		store := ultracart.NewMemoryStore(uc.IssueToken(ultracart.ScopeItemRead))
//		client := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, store))
//
//		uc.ExpireAccessTokens() // the client must refresh, and save the rotated token
//		resp, err := client.Get(uc.URL + ultracarttest.ItemsPath)
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer resp.Body.Close()
//		if err := ultracart.CheckResponse(resp); err != nil {
//			t.Fatal(err)
//		}
//		if got := uc.Stats().Refresh; got != 1 {
//			t.Errorf("refreshes = %d, want 1", got)
//		}
//	}
//
// The package deliberately does not import package testing, so examples and
// non-test helpers may use it too. All methods of [Server] are safe for
// concurrent use by multiple goroutines, including while requests are served.
package ultracarttest
