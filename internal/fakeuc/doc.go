// Package fakeuc is the fake UltraCart behind package ultracarttest, with
// every setting it has: ultracarttest shows a user's tests what they need,
// and the module's own tests and the soak use the rest (fault rates, lost
// responses, the device flow's pacing, the record's bound, the counts of
// reuses and of faults).
//
// It is an in-process fake of UltraCart's OAuth 2.0 endpoints, plus one
// protected REST resource (base path /rest/v2).
//
// A [Server] listens on 127.0.0.1 on a free port, like [net/http/httptest], and
// serves:
//
//   - GET  [AuthorizePath]: the browser link. It answers 302 Found to the
//     redirect URI with a single-use code and the state, or with an OAuth
//     error (see [Options].Deny and AuthorizeExpired).
//   - POST [TokenPath]: the authorization_code, refresh_token and
//     urn:ietf:params:oauth:grant-type:device_code grants. Tokens are
//     answered as UltraCart's OauthTokenResponse, whose expires_in is a JSON
//     string ("3600") by default (see [Options].ExpiresInJSON).
//   - POST [DeviceAuthPath]: the start of the device flow (RFC 8628). It
//     requires client_id and scope, as UltraCart's oauthDeviceAuthorize does.
//   - POST [RevokePath]: revokes a whole grant by its access or refresh token.
//   - GET  [ItemsPath]: a protected resource that needs a live bearer access
//     token and the X-UltraCart-Api-Version header set to [APIVersion].
//   - GET  [DevicePath]: a placeholder verification page, so that the
//     verification_uri of the device flow resolves.
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
// failures (a status, a delay, a reset connection, a truncated body, a
// response lost after the server carried the request out) per path, at a
// rate if wanted; [Server.Stats] counts requests, rotations, reuses, revoked
// families, invalid_grant answers and faults; [Server.Requests] and [Server.LastRequest] tell
// what the server saw; [Server.IssueToken] and [Server.ExpireAccessTokens] shortcut the
// flows.
//
// The package deliberately does not import package testing, so examples and
// non-test helpers may use it too. All methods of [Server] are safe for
// concurrent use by multiple goroutines, including while requests are served.
package fakeuc
