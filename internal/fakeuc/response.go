package fakeuc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// OAuth error codes the token and device endpoints answer with, named like
// their wire values.
const (
	// CodeInvalidRequest is the code for a missing parameter or an unknown
	// grant_type.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidClient is the code for a wrong client_id or client_secret;
	// it comes with status 401.
	CodeInvalidClient = "invalid_client"
	// CodeInvalidGrant is the code for a code or refresh token that is
	// invalid, used, expired or revoked, or issued to another client or
	// redirect_uri.
	CodeInvalidGrant = "invalid_grant"
	// CodeUnsupportedGrantType is the code for a standard grant_type that
	// UltraCart does not offer, such as client_credentials or password.
	CodeUnsupportedGrantType = "unsupported_grant_type"
	// CodeAuthorizationPending is the code for a device poll made before
	// the user approved.
	CodeAuthorizationPending = "authorization_pending"
	// CodeSlowDown is the code for a device poll that came too fast.
	CodeSlowDown = "slow_down"
	// CodeAccessDenied is the code for a request the user denied
	// (Options.Deny).
	CodeAccessDenied = "access_denied"
	// CodeExpiredToken is the code for a device code that is unknown,
	// expired or already used.
	CodeExpiredToken = "expired_token"
)

// writeJSON answers status with body as application/json.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// mustJSON marshals v, which is always one of this package's own types,
// without escaping HTML characters.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("ultracarttest: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// oauthError is the error half of UltraCart's OauthTokenResponse.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// writeErrorLocked answers an error of the token or device endpoint: 401
// for invalid_client, else 400, in the OAuth form, or as an ErrorResponse
// envelope without the code when Options.TokenErrorEnvelope is set. desc
// must never contain anything the client sent. s.mu must be held.
func (s *Server) writeErrorLocked(w http.ResponseWriter, code, desc string) {
	status := http.StatusBadRequest
	if code == CodeInvalidClient {
		status = http.StatusUnauthorized
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if s.opts.TokenErrorEnvelope {
		writeEnvelope(w, status, desc, desc, "See the OAuth section of the UltraCart REST API reference.")
		return
	}
	h.Set(ErrorHeader, desc)
	writeJSON(w, status, mustJSON(oauthError{Error: code, ErrorDescription: desc}))
}

// envelope is UltraCart's ErrorResponse.
type envelope struct {
	Error    envelopeError `json:"error"`
	Metadata struct{}      `json:"metadata"`
	Success  bool          `json:"success"`
}

type envelopeError struct {
	DeveloperMessage string `json:"developer_message"`
	ErrorCode        string `json:"error_code"`
	MoreInfo         string `json:"more_info"`
	ObjectID         string `json:"object_id"`
	UserMessage      string `json:"user_message"`
}

// writeEnvelope answers an ErrorResponse envelope whose error_code is the
// status. The messages must never contain anything the client sent.
func writeEnvelope(w http.ResponseWriter, status int, userMsg, devMsg, moreInfo string) {
	w.Header().Set(ErrorHeader, userMsg)
	writeJSON(w, status, mustJSON(envelope{Error: envelopeError{
		DeveloperMessage: devMsg,
		ErrorCode:        strconv.Itoa(status),
		MoreInfo:         moreInfo,
		UserMessage:      userMsg,
	}}))
}

// tokenBody renders the OauthTokenResponse of a success by hand, so that
// expiresIn (raw JSON text) goes out verbatim; an empty expiresIn leaves the
// field out.
func tokenBody(access, refresh, expiresIn, scope string) []byte {
	var b bytes.Buffer
	field := func(name string, raw []byte) {
		if b.Len() > 0 {
			b.WriteByte(',')
		} else {
			b.WriteByte('{')
		}
		b.Write(mustJSON(name))
		b.WriteByte(':')
		b.Write(raw)
	}
	field("access_token", mustJSON(access))
	field("refresh_token", mustJSON(refresh))
	field("token_type", mustJSON("bearer"))
	if expiresIn != "" {
		field("expires_in", []byte(expiresIn))
	}
	field("scope", mustJSON(scope))
	b.WriteByte('}')
	return b.Bytes()
}
