package fakeuc

import (
	"net/http"
	"net/url"
	"strings"
)

// Item is one demo item of the protected resource at ItemsPath.
type Item struct {
	MerchantItemID string `json:"merchant_item_id"`
	Description    string `json:"description"`
}

// DemoItems returns the two fixed items the protected resource lists.
func DemoItems() []Item {
	return []Item{
		{MerchantItemID: "DEMO-ITEM-1", Description: "Demo item one"},
		{MerchantItemID: "DEMO-ITEM-2", Description: "Demo item two"},
	}
}

type resultSet struct {
	Count        int  `json:"count"`
	Limit        int  `json:"limit"`
	More         bool `json:"more"`
	Offset       int  `json:"offset"`
	TotalRecords int  `json:"total_records"`
}

type itemsResponse struct {
	Items    []Item `json:"items"`
	Success  bool   `json:"success"`
	Metadata struct {
		ResultSet resultSet `json:"result_set"`
	} `json:"metadata"`
}

// bearerToken returns the token of an "Authorization: Bearer" header, the
// scheme matched case-insensitively.
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// handleItems serves the protected resource. The token is checked before
// the version header.
func (s *Server) handleItems(w http.ResponseWriter, r *http.Request, _ url.Values, _ error) {
	const more = "Send Authorization: Bearer <access token> and " + versionHeader + ": " + APIVersion + "."
	tok, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="UltraCart"`)
		writeEnvelope(w, http.StatusUnauthorized,
			"Authorization required.",
			"The request has no bearer access token.", more)
		return
	}
	s.mu.Lock()
	live := s.liveAccessLocked(tok)
	s.mu.Unlock()
	if !live {
		w.Header().Set("WWW-Authenticate", `Bearer realm="UltraCart", error="invalid_token"`)
		writeEnvelope(w, http.StatusUnauthorized,
			"Permission denied: the access token is invalid, expired or revoked.",
			"The bearer access token is invalid, expired or revoked; refresh it or authorize again.", more)
		return
	}
	if v := r.Header.Get(versionHeader); v != APIVersion {
		msg := "The " + versionHeader + " header is missing."
		if v != "" {
			msg = "The " + versionHeader + " header names an unsupported version."
		}
		writeEnvelope(w, http.StatusBadRequest, msg, msg+" Send "+APIVersion+".", more)
		return
	}
	var resp itemsResponse
	resp.Items = DemoItems()
	resp.Success = true
	resp.Metadata.ResultSet = resultSet{
		Count:        len(resp.Items),
		Limit:        100,
		TotalRecords: len(resp.Items),
	}
	writeJSON(w, http.StatusOK, mustJSON(resp))
}
