package fakeuc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

const (
	testClient   = "test-client"
	testRedirect = "http://app.test/callback"
)

// newServer starts a server that the test closes.
func newServer(t *testing.T) *fakeuc.Server {
	t.Helper()
	s := fakeuc.NewServer()
	t.Cleanup(s.Close)
	return s
}

// reply is a response read in full.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

// noFollow returns a client for s that does not follow redirects.
func noFollow(s *fakeuc.Server) *http.Client {
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func do(t *testing.T, s *fakeuc.Server, req *http.Request) reply {
	t.Helper()
	resp, err := noFollow(s).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func get(t *testing.T, s *fakeuc.Server, path string, q url.Values, hdr map[string]string) reply {
	t.Helper()
	u := s.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, s, req)
}

func post(t *testing.T, s *fakeuc.Server, path string, form url.Values) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, s, req)
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

// authorizeQuery is a valid authorize query.
func authorizeQuery() url.Values {
	return url.Values{
		"client_id":     {testClient},
		"response_type": {"code"},
		"state":         {"st-123"},
		"redirect_uri":  {testRedirect},
		"scope":         {"item_read order_read"},
	}
}

// code runs the authorize link with q and returns the code.
func code(t *testing.T, s *fakeuc.Server, q url.Values) string {
	t.Helper()
	r := get(t, s, fakeuc.AuthorizePath, q, nil)
	require.Equal(t, http.StatusFound, r.Status, r.Body)
	loc, err := url.Parse(r.Header.Get("Location"))
	require.NoError(t, err)
	c := loc.Query().Get("code")
	require.NotEmpty(t, c)
	return c
}

func exchangeForm(c string) url.Values {
	return url.Values{
		"grant_type":   {"authorization_code"},
		"client_id":    {testClient},
		"code":         {c},
		"redirect_uri": {testRedirect},
	}
}

// tokens exchanges a fresh code and returns access and refresh tokens.
func tokens(t *testing.T, s *fakeuc.Server) (string, string) {
	t.Helper()
	r := post(t, s, fakeuc.TokenPath, exchangeForm(code(t, s, authorizeQuery())))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	m := decode(t, r.Body)
	return m["access_token"].(string), m["refresh_token"].(string)
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {testClient}, "refresh_token": {rt}}
}

func items(t *testing.T, s *fakeuc.Server, at string) reply {
	t.Helper()
	return get(t, s, fakeuc.ItemsPath, nil, map[string]string{
		"Authorization":           "Bearer " + at,
		"X-UltraCart-Api-Version": fakeuc.APIVersion,
	})
}

// assertOAuthError checks an OAuth error answer of the token endpoint.
func assertOAuthError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	assert.Equal(t, status, r.Status, r.Body)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	m := decode(t, r.Body)
	assert.Equal(t, code, m["error"], r.Body)
	desc, _ := m["error_description"].(string)
	assert.NotEmpty(t, desc)
	assert.Equal(t, desc, r.Header.Get("UC-REST-ERROR"))
}

// assertEnvelope checks an ErrorResponse envelope.
func assertEnvelope(t *testing.T, r reply, status int) {
	t.Helper()
	assert.Equal(t, status, r.Status, r.Body)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	var env struct {
		Error struct {
			DeveloperMessage string  `json:"developer_message"`
			ErrorCode        string  `json:"error_code"`
			MoreInfo         string  `json:"more_info"`
			ObjectID         *string `json:"object_id"`
			UserMessage      string  `json:"user_message"`
		} `json:"error"`
		Metadata map[string]any `json:"metadata"`
		Success  *bool          `json:"success"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Body), &env), r.Body)
	assert.Equal(t, strconv.Itoa(status), env.Error.ErrorCode)
	assert.NotEmpty(t, env.Error.DeveloperMessage)
	assert.NotEmpty(t, env.Error.UserMessage)
	assert.NotEmpty(t, env.Error.MoreInfo)
	if assert.NotNil(t, env.Error.ObjectID) {
		assert.Empty(t, *env.Error.ObjectID)
	}
	assert.NotNil(t, env.Metadata)
	if assert.NotNil(t, env.Success) {
		assert.False(t, *env.Success)
	}
	assert.Equal(t, env.Error.UserMessage, r.Header.Get("UC-REST-ERROR"))
}

func oauthConfig(s *fakeuc.Server) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    testClient,
		Endpoint:    s.Endpoint(),
		RedirectURL: testRedirect,
		Scopes:      []string{"item_read"},
	}
}

func clientCtx(s *fakeuc.Server) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
}

func TestEndpoint(t *testing.T) {
	s := newServer(t)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, s.URL)
	assert.Equal(t, oauth2.Endpoint{
		AuthURL:       s.URL + "/rest/v2/oauth/authorize",
		DeviceAuthURL: s.URL + "/rest/v2/oauth/device/authorize",
		TokenURL:      s.URL + "/rest/v2/oauth/token",
		AuthStyle:     oauth2.AuthStyleInParams,
	}, s.Endpoint())
	assert.Equal(t, "/rest/v2/oauth/revoke", fakeuc.RevokePath)
	assert.Equal(t, "/rest/v2/item/items", fakeuc.ItemsPath)
	assert.Equal(t, "2017-03-01", fakeuc.APIVersion)
}

func TestAuthorize(t *testing.T) {
	with := func(k, v string) url.Values {
		q := authorizeQuery()
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name   string
		setup  func(s *fakeuc.Server)
		query  url.Values
		status int
		// prefix is what Location must start with; want the query values it
		// must have besides the code, noCode that it must have none.
		prefix string
		want   url.Values
		noCode bool
	}{
		{
			name:   "approved",
			query:  authorizeQuery(),
			status: http.StatusFound,
			prefix: testRedirect + "?",
			want:   url.Values{"state": {"st-123"}},
		},
		{
			name:   "existing query kept",
			query:  with("redirect_uri", "http://app.test/cb?b=2&a=1"),
			status: http.StatusFound,
			prefix: "http://app.test/cb?b=2&a=1&code=",
			want:   url.Values{"a": {"1"}, "b": {"2"}, "state": {"st-123"}},
		},
		{
			name:   "preconfigured redirect",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{RedirectURL: "http://pre.test/cb"}) },
			query:  with("redirect_uri", ""),
			status: http.StatusFound,
			prefix: "http://pre.test/cb?code=",
			want:   url.Values{"state": {"st-123"}},
		},
		{
			name:   "given redirect wins over preconfigured",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{RedirectURL: "http://pre.test/cb"}) },
			query:  authorizeQuery(),
			status: http.StatusFound,
			prefix: testRedirect + "?code=",
			want:   url.Values{"state": {"st-123"}},
		},
		{
			name:   "deny",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{Deny: true}) },
			query:  authorizeQuery(),
			status: http.StatusFound,
			prefix: testRedirect + "?error=access_denied&error_description=",
			want:   url.Values{"error": {"access_denied"}, "state": {"st-123"}},
			noCode: true,
		},
		{
			name: "expired link",
			setup: func(s *fakeuc.Server) {
				s.SetOptions(fakeuc.Options{Deny: true, AuthorizeExpired: true})
			},
			query:  authorizeQuery(),
			status: http.StatusFound,
			prefix: testRedirect + "?error=invalid_request&error_description=",
			want:   url.Values{"error": {"invalid_request"}, "state": {"st-123"}},
			noCode: true,
		},
		{name: "missing state", query: with("state", ""), status: http.StatusBadRequest},
		{name: "missing client_id", query: with("client_id", ""), status: http.StatusBadRequest},
		{name: "missing response_type", query: with("response_type", ""), status: http.StatusBadRequest},
		{name: "response_type token", query: with("response_type", "token"), status: http.StatusBadRequest},
		{name: "no redirect anywhere", query: with("redirect_uri", ""), status: http.StatusBadRequest},
		{name: "relative redirect", query: with("redirect_uri", "/cb"), status: http.StatusBadRequest},
		{name: "redirect with fragment", query: with("redirect_uri", "http://app.test/cb#x"), status: http.StatusBadRequest},
		{
			name:   "other client_id",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientID: "only-me"}) },
			query:  authorizeQuery(),
			status: http.StatusBadRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			r := get(t, s, fakeuc.AuthorizePath, tc.query, nil)
			if tc.status != http.StatusFound {
				assertEnvelope(t, r, tc.status)
				assert.Empty(t, r.Header.Get("Location"))
				return
			}
			require.Equal(t, http.StatusFound, r.Status, r.Body)
			loc := r.Header.Get("Location")
			assert.True(t, strings.HasPrefix(loc, tc.prefix), "Location %q, want prefix %q", loc, tc.prefix)
			u, err := url.Parse(loc)
			require.NoError(t, err)
			q := u.Query()
			for k, v := range tc.want {
				assert.Equal(t, v, q[k], k)
			}
			if tc.noCode {
				assert.Empty(t, q.Get("code"))
				assert.NotEmpty(t, q.Get("error_description"))
			} else {
				assert.Regexp(t, `^uc-code-[0-9a-f]{40}$`, q.Get("code"))
			}
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		s := newServer(t)
		r := post(t, s, fakeuc.AuthorizePath, authorizeQuery())
		assertEnvelope(t, r, http.StatusMethodNotAllowed)
		assert.Equal(t, "GET", r.Header.Get("Allow"))
	})
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name string
		// setup runs before the authorize link, edit changes the form.
		setup  func(s *fakeuc.Server)
		edit   func(t *testing.T, s *fakeuc.Server, f url.Values)
		status int
		code   string // OAuth error code; "" for success
	}{
		{name: "success"},
		{
			name: "code used twice",
			edit: func(t *testing.T, s *fakeuc.Server, f url.Values) {
				require.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, f).Status)
			},
			status: 400, code: "invalid_grant",
		},
		{
			name:   "unknown code",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("code", "uc-code-nope") },
			status: 400, code: "invalid_grant",
		},
		{
			name: "redirect_uri mismatch",
			edit: func(_ *testing.T, _ *fakeuc.Server, f url.Values) {
				f.Set("redirect_uri", "http://app.test/other")
			},
			status: 400, code: "invalid_grant",
		},
		{
			name:   "redirect_uri missing",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Del("redirect_uri") },
			status: 400, code: "invalid_request",
		},
		{
			name:   "code missing",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Del("code") },
			status: 400, code: "invalid_request",
		},
		{
			name:   "client_id missing",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Del("client_id") },
			status: 400, code: "invalid_request",
		},
		{
			name:   "grant_type missing",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Del("grant_type") },
			status: 400, code: "invalid_request",
		},
		{
			name:   "unknown grant_type",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("grant_type", "magic") },
			status: 400, code: "invalid_request",
		},
		{
			name:   "unsupported grant_type",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("grant_type", "client_credentials") },
			status: 400, code: "unsupported_grant_type",
		},
		{
			name:   "code of another client",
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("client_id", "someone-else") },
			status: 400, code: "invalid_grant",
		},
		{
			name: "secret ignored when none configured",
			edit: func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("client_secret", "whatever") },
		},
		{
			name:  "configured secret matches",
			setup: func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientSecret: "s3cret"}) },
			edit:  func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("client_secret", "s3cret") },
		},
		{
			name:   "configured secret wrong",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientSecret: "s3cret"}) },
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("client_secret", "guess") },
			status: 401, code: "invalid_client",
		},
		{
			name:   "configured secret missing",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientSecret: "s3cret"}) },
			status: 401, code: "invalid_client",
		},
		{
			name:  "configured client_id matches",
			setup: func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientID: testClient}) },
		},
		{
			name:   "configured client_id differs",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientID: testClient}) },
			edit:   func(_ *testing.T, _ *fakeuc.Server, f url.Values) { f.Set("client_id", "intruder") },
			status: 401, code: "invalid_client",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			f := exchangeForm(code(t, s, authorizeQuery()))
			if tc.edit != nil {
				tc.edit(t, s, f)
			}
			r := post(t, s, fakeuc.TokenPath, f)
			if tc.code != "" {
				assertOAuthError(t, r, tc.status, tc.code)
				return
			}
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
			m := decode(t, r.Body)
			assert.Regexp(t, `^uc-at-[0-9a-f]{40}$`, m["access_token"])
			assert.Regexp(t, `^uc-rt-[0-9a-f]{40}$`, m["refresh_token"])
			assert.Equal(t, map[string]any{
				"access_token":  m["access_token"],
				"refresh_token": m["refresh_token"],
				"token_type":    "bearer",
				"expires_in":    "3600",
				"scope":         "item_read order_read",
			}, m)
		})
	}

	t.Run("exact error body", func(t *testing.T) {
		s := newServer(t)
		r := post(t, s, fakeuc.TokenPath, exchangeForm("uc-code-unknown"))
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, `{"error":"invalid_grant","error_description":"The authorization code is invalid, expired or already used."}`, r.Body)
		assert.Equal(t, "The authorization code is invalid, expired or already used.", r.Header.Get("UC-REST-ERROR"))
	})

	t.Run("failed attempt leaves code usable", func(t *testing.T) {
		s := newServer(t)
		f := exchangeForm(code(t, s, authorizeQuery()))
		bad := exchangeForm(f.Get("code"))
		bad.Set("redirect_uri", "http://app.test/other")
		assertOAuthError(t, post(t, s, fakeuc.TokenPath, bad), 400, "invalid_grant")
		assert.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, f).Status)
	})

	t.Run("preconfigured redirect must be sent back", func(t *testing.T) {
		s := newServer(t)
		s.SetOptions(fakeuc.Options{RedirectURL: "http://pre.test/cb"})
		q := authorizeQuery()
		q.Del("redirect_uri")
		c := code(t, s, q)
		f := exchangeForm(c)
		assertOAuthError(t, post(t, s, fakeuc.TokenPath, f), 400, "invalid_grant")
		f.Set("redirect_uri", "http://pre.test/cb")
		assert.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, f).Status)
	})

	t.Run("default scope", func(t *testing.T) {
		s := newServer(t)
		q := authorizeQuery()
		q.Del("scope")
		r := post(t, s, fakeuc.TokenPath, exchangeForm(code(t, s, q)))
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, fakeuc.DefaultScope, decode(t, r.Body)["scope"])
	})

	t.Run("wrong method", func(t *testing.T) {
		s := newServer(t)
		r := get(t, s, fakeuc.TokenPath, nil, nil)
		assertEnvelope(t, r, http.StatusMethodNotAllowed)
		assert.Equal(t, "POST", r.Header.Get("Allow"))
	})

	t.Run("bearer header tolerated and version recorded", func(t *testing.T) {
		s := newServer(t)
		f := exchangeForm(code(t, s, authorizeQuery()))
		req, err := http.NewRequest(http.MethodPost, s.URL+fakeuc.TokenPath, strings.NewReader(f.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer not-a-token")
		req.Header.Set("X-UltraCart-Api-Version", "2017-03-01")
		r := do(t, s, req)
		assert.Equal(t, http.StatusOK, r.Status, r.Body)
		last, ok := s.LastRequest(fakeuc.TokenPath)
		require.True(t, ok)
		assert.Equal(t, "2017-03-01", last.Header.Get("X-UltraCart-Api-Version"))
	})
}

func TestOAuth2ConfigFlow(t *testing.T) {
	s := newServer(t)
	conf := oauthConfig(s)
	ctx := clientCtx(s)

	r := get(t, s, "", nil, nil) // the bare base URL is unknown
	assertEnvelope(t, r, http.StatusNotFound)

	resp, err := noFollow(s).Get(conf.AuthCodeURL("xyz"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "xyz", loc.Query().Get("state"))

	before := time.Now()
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"))
	require.NoError(t, err)
	assert.Equal(t, "bearer", tok.TokenType)
	assert.Equal(t, int64(3600), tok.ExpiresIn)
	assert.WithinDuration(t, before.Add(time.Hour), tok.Expiry, 5*time.Second)
	assert.Equal(t, "item_read", tok.Extra("scope"))

	// An expired token makes the TokenSource refresh it, with rotation.
	old := *tok
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(ctx, tok).Token()
	require.NoError(t, err)
	assert.NotEqual(t, old.AccessToken, fresh.AccessToken)
	assert.NotEqual(t, old.RefreshToken, fresh.RefreshToken)
	assert.Equal(t, http.StatusOK, items(t, s, fresh.AccessToken).Status)
	assert.Equal(t, http.StatusUnauthorized, items(t, s, old.AccessToken).Status)
	assert.Equal(t, fakeuc.Stats{Authorize: 1, Token: 2, Exchange: 1, Refresh: 1, API: 2, Rotations: 1}, s.Stats())
}

func TestExpiresInJSON(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(s *fakeuc.Server)
		fragment string // the verbatim text the body must hold, "" when none
		absent   bool   // expires_in must not appear at all
		oauthErr bool   // x/oauth2 fails to parse the response
		secs     int64  // the ExpiresIn x/oauth2 reads
	}{
		{name: "default string", fragment: `"expires_in":"3600"`, secs: 3600},
		{
			name: "lifetime",
			setup: func(s *fakeuc.Server) {
				s.SetOptions(fakeuc.Options{TokenLifetime: 90*time.Second + 500*time.Millisecond})
			},
			fragment: `"expires_in":"90"`, secs: 90,
		},
		{
			name:     "empty string",
			setup:    func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ExpiresInJSON: `""`}) },
			fragment: `"expires_in":""`, oauthErr: true,
		},
		{
			name:     "leading space",
			setup:    func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ExpiresInJSON: `" 3600"`}) },
			fragment: `"expires_in":" 3600"`, oauthErr: true,
		},
		{
			name:     "float",
			setup:    func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ExpiresInJSON: `3600.0`}) },
			fragment: `"expires_in":3600.0`, oauthErr: true,
		},
		{
			name:     "null",
			setup:    func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ExpiresInJSON: `null`}) },
			fragment: `"expires_in":null`,
		},
		{
			name:     "number",
			setup:    func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ExpiresInJSON: `3600`}) },
			fragment: `"expires_in":3600,`, secs: 3600,
		},
		{
			name:   "omitted",
			setup:  func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{OmitExpiresIn: true}) },
			absent: true,
		},
		{
			name: "restored",
			setup: func(s *fakeuc.Server) {
				s.SetOptions(fakeuc.Options{ExpiresInJSON: `null`, OmitExpiresIn: true})
				s.SetOptions(fakeuc.Options{})
			},
			fragment: `"expires_in":"3600"`, secs: 3600,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			r := post(t, s, fakeuc.TokenPath, refreshForm(s.IssueToken("").RefreshToken))
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			if tc.absent {
				assert.NotContains(t, r.Body, "expires_in")
			} else {
				assert.Contains(t, r.Body, tc.fragment)
			}

			conf := oauthConfig(s)
			tok, err := conf.TokenSource(clientCtx(s), &oauth2.Token{RefreshToken: s.IssueToken("").RefreshToken}).Token()
			if tc.oauthErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.secs, tok.ExpiresIn)
			assert.Equal(t, tc.secs == 0, tok.Expiry.IsZero())
		})
	}
}

func TestRefresh(t *testing.T) {
	t.Run("rotation", func(t *testing.T) {
		s := newServer(t)
		at, rt := tokens(t, s)
		r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		m := decode(t, r.Body)
		at2, rt2 := m["access_token"].(string), m["refresh_token"].(string)
		assert.Regexp(t, `^uc-rt-`, rt2)
		assert.NotEqual(t, rt, rt2)
		assert.NotEqual(t, at, at2)
		assert.Equal(t, "item_read order_read", m["scope"], "scope carried over")

		assertOAuthError(t, post(t, s, fakeuc.TokenPath, refreshForm(rt)), 400, "invalid_grant")
		assert.Equal(t, http.StatusUnauthorized, items(t, s, at).Status, "old access token replaced")
		assert.Equal(t, http.StatusOK, items(t, s, at2).Status)

		r = post(t, s, fakeuc.TokenPath, refreshForm(rt2))
		assert.Equal(t, http.StatusOK, r.Status, r.Body)
		assertOAuthError(t, post(t, s, fakeuc.TokenPath, refreshForm(rt2)), 400, "invalid_grant")
	})

	t.Run("no rotation", func(t *testing.T) {
		s := newServer(t)
		s.SetOptions(fakeuc.Options{KeepRefreshTokens: true})
		at, rt := tokens(t, s)
		var last string
		for range 3 {
			r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			m := decode(t, r.Body)
			assert.Equal(t, rt, m["refresh_token"])
			assert.NotEqual(t, at, m["access_token"])
			last = m["access_token"].(string)
		}
		assert.Equal(t, http.StatusUnauthorized, items(t, s, at).Status)
		assert.Equal(t, http.StatusOK, items(t, s, last).Status)
	})

	errs := []struct {
		name   string
		form   func(rt string) url.Values
		status int
		code   string
	}{
		{"missing refresh_token", func(string) url.Values { return refreshForm("") }, 400, "invalid_request"},
		{"unknown refresh_token", func(string) url.Values { return refreshForm("uc-rt-nope") }, 400, "invalid_grant"},
		{"access token as refresh token", func(string) url.Values { return nil }, 400, "invalid_grant"},
		{"other client", func(rt string) url.Values {
			f := refreshForm(rt)
			f.Set("client_id", "other")
			return f
		}, 400, "invalid_grant"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			at, rt := tokens(t, s)
			f := tc.form(rt)
			if f == nil {
				f = refreshForm(at)
			}
			assertOAuthError(t, post(t, s, fakeuc.TokenPath, f), tc.status, tc.code)
			assert.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, refreshForm(rt)).Status,
				"a failed refresh leaves the refresh token alive")
		})
	}
}

// TestTokenErrorEnvelope: with Options.TokenErrorEnvelope, the token and
// device endpoints answer their errors as UltraCart's OpenAPI spec declares
// them (an ErrorResponse, no RFC 6749 code), at the status and with the
// description of the OAuth form, and change the same state.
func TestTokenErrorEnvelope(t *testing.T) {
	poll := func(dc string) url.Values {
		return url.Values{"grant_type": {fakeuc.GrantDeviceCode}, "client_id": {testClient}, "device_code": {dc}}
	}
	tests := []struct {
		name    string
		opts    fakeuc.Options
		path    string
		form    func(t *testing.T, s *fakeuc.Server) url.Values
		status  int
		grantNo int // invalid_grant answers counted
	}{
		{"used refresh token", fakeuc.Options{}, fakeuc.TokenPath, func(t *testing.T, s *fakeuc.Server) url.Values {
			_, rt := tokens(t, s)
			require.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, refreshForm(rt)).Status)
			return refreshForm(rt)
		}, 400, 1},
		{"unknown code", fakeuc.Options{}, fakeuc.TokenPath, func(*testing.T, *fakeuc.Server) url.Values {
			return exchangeForm("uc-code-nope")
		}, 400, 1},
		{"expired device code", fakeuc.Options{}, fakeuc.TokenPath, func(*testing.T, *fakeuc.Server) url.Values {
			return poll("uc-dc-nope")
		}, 400, 0},
		{"pending device code", fakeuc.Options{DevicePending: 1}, fakeuc.TokenPath, func(t *testing.T, s *fakeuc.Server) url.Values {
			r := post(t, s, fakeuc.DeviceAuthPath, url.Values{"client_id": {testClient}, "scope": {"item_read"}})
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			return poll(decode(t, r.Body)["device_code"].(string))
		}, 400, 0},
		{"wrong client secret", fakeuc.Options{ClientSecret: "s3cret"}, fakeuc.TokenPath, func(*testing.T, *fakeuc.Server) url.Values {
			return refreshForm("uc-rt-nope")
		}, 401, 0},
		{"missing grant_type", fakeuc.Options{}, fakeuc.TokenPath, func(*testing.T, *fakeuc.Server) url.Values {
			return url.Values{"client_id": {testClient}}
		}, 400, 0},
		{"device authorize without scope", fakeuc.Options{}, fakeuc.DeviceAuthPath, func(*testing.T, *fakeuc.Server) url.Values {
			return url.Values{"client_id": {testClient}}
		}, 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The same request to two servers, in either form.
			var oauth reply
			for _, envelope := range []bool{false, true} {
				s := newServer(t)
				o := tc.opts
				o.TokenErrorEnvelope = envelope
				s.SetOptions(o)
				r := post(t, s, tc.path, tc.form(t, s))
				assert.Equal(t, tc.grantNo, s.Stats().InvalidGrant)
				if !envelope {
					oauth = r
					assert.Equal(t, tc.status, r.Status, r.Body)
					continue
				}
				assertEnvelope(t, r, tc.status)
				assert.NotContains(t, r.Body, `"error":"`, "no RFC 6749 error code")
				assert.Equal(t, oauth.Header.Get("UC-REST-ERROR"), r.Header.Get("UC-REST-ERROR"))
				assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
			}
		})
	}

	t.Run("x/oauth2 sees no error code", func(t *testing.T) {
		s := newServer(t)
		s.SetOptions(fakeuc.Options{TokenErrorEnvelope: true})
		_, err := oauthConfig(s).TokenSource(clientCtx(s), &oauth2.Token{RefreshToken: "uc-rt-nope"}).Token()
		var re *oauth2.RetrieveError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
		assert.Empty(t, re.ErrorCode)
	})

	t.Run("reuse still revokes the family", func(t *testing.T) {
		s := newServer(t)
		s.SetOptions(fakeuc.Options{TokenErrorEnvelope: true, ReuseDetection: true})
		_, rt := tokens(t, s)
		r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		assertEnvelope(t, post(t, s, fakeuc.TokenPath, refreshForm(rt)), 400)
		assertEnvelope(t, post(t, s, fakeuc.TokenPath, refreshForm(decode(t, r.Body)["refresh_token"].(string))), 400)
		assert.Equal(t, 1, s.Stats().FamiliesRevoked)
	})
}

func TestIssueToken(t *testing.T) {
	s := newServer(t)
	s.SetOptions(fakeuc.Options{TokenLifetime: 2 * time.Minute})
	before := time.Now()
	tok := s.IssueToken("item_write")
	assert.Regexp(t, `^uc-at-[0-9a-f]{40}$`, tok.AccessToken)
	assert.Regexp(t, `^uc-rt-[0-9a-f]{40}$`, tok.RefreshToken)
	assert.Equal(t, "bearer", tok.TokenType)
	assert.Equal(t, int64(120), tok.ExpiresIn)
	assert.WithinDuration(t, before.Add(2*time.Minute), tok.Expiry, 2*time.Second)
	assert.Equal(t, "item_write", tok.Extra("scope"))
	assert.Equal(t, "item_read", s.IssueToken("").Extra("scope"))
	assert.Equal(t, http.StatusOK, items(t, s, tok.AccessToken).Status)

	r := post(t, s, fakeuc.TokenPath, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {"any-client"}, "refresh_token": {tok.RefreshToken},
	})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.Equal(t, "item_write", decode(t, r.Body)["scope"])
	assert.Equal(t, fakeuc.Stats{Token: 1, Refresh: 1, API: 1, Rotations: 1}, s.Stats(), "IssueToken is no request")
}

func TestDeviceFlow(t *testing.T) {
	deviceAuth := func(t *testing.T, s *fakeuc.Server) map[string]any {
		t.Helper()
		r := post(t, s, fakeuc.DeviceAuthPath, url.Values{"client_id": {testClient}, "scope": {"item_read"}})
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		return decode(t, r.Body)
	}
	poll := func(dc string) url.Values {
		return url.Values{
			"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id":   {testClient},
			"device_code": {dc},
		}
	}

	t.Run("authorization response", func(t *testing.T) {
		s := newServer(t)
		m := deviceAuth(t, s)
		dc, _ := m["device_code"].(string)
		uc, _ := m["user_code"].(string)
		assert.Regexp(t, `^uc-dc-[0-9a-f]{40}$`, dc)
		assert.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`, uc)
		assert.Equal(t, map[string]any{
			"device_code":               dc,
			"user_code":                 uc,
			"verification_uri":          s.URL + "/rest/v2/oauth/device",
			"verification_uri_complete": s.URL + "/rest/v2/oauth/device?user_code=" + uc,
			"expires_in":                float64(600),
			"interval":                  float64(1),
		}, m)
		s.SetOptions(fakeuc.Options{DeviceInterval: 6500 * time.Millisecond}) // rounded up
		assert.Equal(t, float64(7), deviceAuth(t, s)["interval"])
		page := get(t, s, fakeuc.DevicePath, url.Values{"user_code": {uc}}, nil)
		assert.Equal(t, http.StatusOK, page.Status)
	})

	tests := []struct {
		name  string
		setup func(s *fakeuc.Server)
		want  []string // OAuth error codes of successive polls; "ok" for a token
	}{
		{name: "immediate", want: []string{"ok", "expired_token"}},
		{
			name:  "pending",
			setup: func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{DevicePending: 2}) },
			want:  []string{"authorization_pending", "authorization_pending", "ok", "expired_token"},
		},
		{
			name: "slow down then pending",
			setup: func(s *fakeuc.Server) {
				s.SetOptions(fakeuc.Options{DeviceSlowDown: 1, DevicePending: 1})
			},
			want: []string{"slow_down", "authorization_pending", "ok"},
		},
		{
			name: "denied",
			setup: func(s *fakeuc.Server) {
				s.SetOptions(fakeuc.Options{DevicePending: 1, Deny: true})
			},
			want: []string{"authorization_pending", "access_denied", "expired_token"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			dc := deviceAuth(t, s)["device_code"].(string)
			for i, want := range tc.want {
				r := post(t, s, fakeuc.TokenPath, poll(dc))
				if want != "ok" {
					assertOAuthError(t, r, 400, want)
					continue
				}
				require.Equal(t, http.StatusOK, r.Status, "poll %d: %s", i, r.Body)
				m := decode(t, r.Body)
				assert.Equal(t, "3600", m["expires_in"])
				assert.Equal(t, "item_read", m["scope"])
				assert.Equal(t, http.StatusOK, items(t, s, m["access_token"].(string)).Status)
			}
			assert.Equal(t, len(tc.want), s.Stats().DeviceToken)
		})
	}

	errs := []struct {
		name   string
		form   url.Values
		path   string
		status int
		code   string
	}{
		{"unknown device code", poll("uc-dc-nope"), fakeuc.TokenPath, 400, "expired_token"},
		{"missing device code", poll(""), fakeuc.TokenPath, 400, "invalid_request"},
		{"device authorize without client_id", url.Values{"scope": {"x"}}, fakeuc.DeviceAuthPath, 400, "invalid_request"},
		{"device authorize without scope", url.Values{"client_id": {testClient}}, fakeuc.DeviceAuthPath, 400, "invalid_request"},
		{"device authorize with a blank scope", url.Values{"client_id": {testClient}, "scope": {" "}}, fakeuc.DeviceAuthPath, 400, "invalid_request"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			assertOAuthError(t, post(t, s, tc.path, tc.form), tc.status, tc.code)
		})
	}

	t.Run("device authorize checks the client", func(t *testing.T) {
		s := newServer(t)
		s.SetOptions(fakeuc.Options{ClientID: testClient})
		r := post(t, s, fakeuc.DeviceAuthPath, url.Values{"client_id": {"intruder"}})
		assertOAuthError(t, r, 401, "invalid_client")
	})

	t.Run("x/oauth2 polls through pending", func(t *testing.T) {
		// The server outside the bubble: its listener waits on the network.
		s := newServer(t)
		s.SetOptions(fakeuc.Options{DevicePending: 1, ClientSecret: "device-secret"}) // not sent to DeviceAuthPath, checked on polls
		conf := oauthConfig(s)
		conf.ClientSecret = "device-secret"
		synctest.Test(t, func(t *testing.T) { // where the poll interval passes at no cost
			ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: s.Transport()})
			start := time.Now()
			da, err := conf.DeviceAuth(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), da.Interval)
			tok, err := conf.DeviceAccessToken(ctx, da)
			require.NoError(t, err)
			assert.Regexp(t, `^uc-at-`, tok.AccessToken)
			assert.Equal(t, 2, s.Stats().DeviceToken)
			assert.Equal(t, 2*time.Second, time.Since(start), "two polls, an interval apart")
		})
	})
}

func TestRevoke(t *testing.T) {
	tests := []struct {
		name  string
		token func(at, rt string) string
		ok    bool
	}{
		{"by access token", func(at, _ string) string { return at }, true},
		{"by refresh token", func(_, rt string) string { return rt }, true},
		{"unknown token", func(string, string) string { return "uc-at-unknown" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			at, rt := tokens(t, s)
			r := post(t, s, fakeuc.RevokePath, url.Values{"client_id": {testClient}, "token": {tc.token(at, rt)}})
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			m := decode(t, r.Body)
			assert.Equal(t, tc.ok, m["successful"])
			assert.NotEmpty(t, m["message"])
			if tc.ok {
				assert.Equal(t, `{"successful":true,"message":"Token revoked."}`, r.Body)
				assert.Equal(t, http.StatusUnauthorized, items(t, s, at).Status)
				assertOAuthError(t, post(t, s, fakeuc.TokenPath, refreshForm(rt)), 400, "invalid_grant")
				return
			}
			assert.Equal(t, `{"successful":false,"message":"Token not found."}`, r.Body)
			assert.Equal(t, http.StatusOK, items(t, s, at).Status)
		})
	}

	errs := []struct {
		name   string
		setup  func(s *fakeuc.Server)
		form   url.Values
		status int
	}{
		{"missing token", nil, url.Values{"client_id": {testClient}}, 400},
		{"missing client_id", nil, url.Values{"token": {"uc-at-x"}}, 400},
		{"other client", func(s *fakeuc.Server) { s.SetOptions(fakeuc.Options{ClientID: testClient}) },
			url.Values{"client_id": {"intruder"}, "token": {"uc-at-x"}}, 401},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			assertEnvelope(t, post(t, s, fakeuc.RevokePath, tc.form), tc.status)
		})
	}
}

func TestItems(t *testing.T) {
	const okBody = `{"items":[{"merchant_item_id":"DEMO-ITEM-1","description":"Demo item one"},` +
		`{"merchant_item_id":"DEMO-ITEM-2","description":"Demo item two"}],"success":true,` +
		`"metadata":{"result_set":{"count":2,"limit":100,"more":false,"offset":0,"total_records":2}}}`
	tests := []struct {
		name   string
		setup  func(s *fakeuc.Server, at string)
		header func(at string) map[string]string
		status int
	}{
		{
			name:   "success",
			header: func(at string) map[string]string { return map[string]string{"Authorization": "Bearer " + at} },
			status: 200,
		},
		{
			name:   "scheme case-insensitive",
			header: func(at string) map[string]string { return map[string]string{"Authorization": "bEaReR " + at} },
			status: 200,
		},
		{
			name:   "no authorization",
			header: func(string) map[string]string { return map[string]string{} },
			status: 401,
		},
		{
			name:   "basic scheme",
			header: func(at string) map[string]string { return map[string]string{"Authorization": "Basic " + at} },
			status: 401,
		},
		{
			name:   "unknown token",
			header: func(string) map[string]string { return map[string]string{"Authorization": "Bearer uc-at-nope"} },
			status: 401,
		},
		{
			name:   "expired by ExpireAccessTokens",
			setup:  func(s *fakeuc.Server, _ string) { s.ExpireAccessTokens() },
			header: func(at string) map[string]string { return map[string]string{"Authorization": "Bearer " + at} },
			status: 401,
		},
		{
			name: "no version header",
			header: func(at string) map[string]string {
				return map[string]string{"Authorization": "Bearer " + at, "X-UltraCart-Api-Version": ""}
			},
			status: 400,
		},
		{
			name: "wrong version header",
			header: func(at string) map[string]string {
				return map[string]string{"Authorization": "Bearer " + at, "X-UltraCart-Api-Version": "2016-01-01"}
			},
			status: 400,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			at := s.IssueToken("").AccessToken
			if tc.setup != nil {
				tc.setup(s, at)
			}
			h := map[string]string{"X-UltraCart-Api-Version": fakeuc.APIVersion}
			for k, v := range tc.header(at) {
				h[k] = v
			}
			for k, v := range h {
				if v == "" {
					delete(h, k)
				}
			}
			r := get(t, s, fakeuc.ItemsPath, nil, h)
			if tc.status != http.StatusOK {
				assertEnvelope(t, r, tc.status)
				assert.NotContains(t, r.Body, at)
				return
			}
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, okBody, r.Body)
		})
	}

	t.Run("exact 401 envelope", func(t *testing.T) {
		s := newServer(t)
		r := get(t, s, fakeuc.ItemsPath, nil, map[string]string{"X-UltraCart-Api-Version": fakeuc.APIVersion})
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "Authorization required.", r.Header.Get("UC-REST-ERROR"))
		assert.Equal(t, `{"error":{"developer_message":"The request has no bearer access token.","error_code":"401",`+
			`"more_info":"Send Authorization: Bearer <access token> and X-UltraCart-Api-Version: 2017-03-01.",`+
			`"object_id":"","user_message":"Authorization required."},"metadata":{},"success":false}`, r.Body)
	})

	t.Run("expired then refreshed", func(t *testing.T) {
		s := newServer(t)
		at, rt := tokens(t, s)
		s.ExpireAccessTokens()
		assertEnvelope(t, items(t, s, at), http.StatusUnauthorized)
		r := post(t, s, fakeuc.TokenPath, refreshForm(rt))
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, http.StatusOK, items(t, s, decode(t, r.Body)["access_token"].(string)).Status)
		assert.Equal(t, http.StatusOK, items(t, s, s.IssueToken("").AccessToken).Status, "later tokens unaffected")
	})

	t.Run("lifetime passes", func(t *testing.T) {
		s := newServer(t)
		clock := newClock()
		s.SetOptions(fakeuc.Options{TokenLifetime: 50 * time.Millisecond, Clock: clock.now})
		tok := s.IssueToken("")
		assert.Equal(t, int64(0), tok.ExpiresIn)
		assert.Equal(t, clock.now().Add(50*time.Millisecond), tok.Expiry, "expiry from the server's clock")
		clock.advance(50*time.Millisecond - time.Nanosecond)
		assert.Equal(t, http.StatusOK, items(t, s, tok.AccessToken).Status, "1ns before expiry")
		clock.advance(time.Nanosecond)
		assert.Equal(t, http.StatusUnauthorized, items(t, s, tok.AccessToken).Status, "at expiry")
	})

	t.Run("unknown path and wrong method", func(t *testing.T) {
		s := newServer(t)
		assertEnvelope(t, get(t, s, "/rest/v2/nothing", nil, nil), http.StatusNotFound)
		assertEnvelope(t, post(t, s, fakeuc.ItemsPath, nil), http.StatusMethodNotAllowed)
	})
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  fakeuc.Fault
		status int
		body   string
		header http.Header
	}{
		{
			name:   "status body header",
			fault:  fakeuc.Fault{Status: 503, Body: "busy", Header: http.Header{"Retry-After": {"7"}, "Uc-Rest-Error": {"down"}}},
			status: 503, body: "busy",
			header: http.Header{"Retry-After": {"7"}, "Uc-Rest-Error": {"down"}, "Content-Type": nil},
		},
		{
			name:   "default status",
			fault:  fakeuc.Fault{Body: `{"oops":true}`, Header: http.Header{"Content-Type": {"application/json"}}},
			status: 500, body: `{"oops":true}`,
			header: http.Header{"Content-Type": {"application/json"}},
		},
		{
			name:   "redirect",
			fault:  fakeuc.Fault{Status: 307, Header: http.Header{"Location": {"http://elsewhere.test/"}}},
			status: 307,
			header: http.Header{"Location": {"http://elsewhere.test/"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.Fail(fakeuc.TokenPath, tc.fault)
			c := code(t, s, authorizeQuery())
			r := post(t, s, fakeuc.TokenPath, exchangeForm(c))
			assert.Equal(t, tc.status, r.Status)
			assert.Equal(t, tc.body, r.Body)
			for k, v := range tc.header {
				assert.Equal(t, v, r.Header.Values(k), k)
			}
			s.ClearFaults()
			assert.Equal(t, http.StatusOK, post(t, s, fakeuc.TokenPath, exchangeForm(c)).Status,
				"the faulted exchange left the code unused")
			assert.Equal(t, 2, s.Stats().Exchange)
		})
	}

	t.Run("times and order", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 502, Times: 2})
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 503, Times: 1})
		at := s.IssueToken("").AccessToken
		var got []int
		for range 5 {
			got = append(got, items(t, s, at).Status)
		}
		assert.Equal(t, []int{502, 502, 503, 200, 200}, got)
	})

	t.Run("forever until cleared", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 429})
		at := s.IssueToken("").AccessToken
		for range 3 {
			assert.Equal(t, 429, items(t, s, at).Status)
		}
		s.ClearFaults()
		assert.Equal(t, 200, items(t, s, at).Status)
		assert.Equal(t, 4, s.Stats().API)
	})

	t.Run("faulted refresh keeps token alive", func(t *testing.T) {
		s := newServer(t)
		rt := s.IssueToken("").RefreshToken
		s.Fail(fakeuc.TokenPath, fakeuc.Fault{Status: 500, Times: 1})
		assert.Equal(t, 500, post(t, s, fakeuc.TokenPath, refreshForm(rt)).Status)
		assert.Equal(t, 200, post(t, s, fakeuc.TokenPath, refreshForm(rt)).Status)
	})

	t.Run("delay honoured", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Status: 504, Delay: 200 * time.Millisecond, Times: 1})
		start := time.Now()
		r := items(t, s, "x")
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
		assert.Equal(t, 504, r.Status)
	})

	t.Run("delay cancelled by client", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.ItemsPath, fakeuc.Fault{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+fakeuc.ItemsPath, nil)
		require.NoError(t, err)
		start := time.Now()
		_, err = s.Client().Do(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("reset", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.TokenPath, fakeuc.Fault{Reset: true, Times: 1})
		resp, err := s.Client().PostForm(s.URL+fakeuc.TokenPath, refreshForm("uc-rt-x"))
		if err == nil {
			resp.Body.Close()
		}
		assert.Error(t, err)
		assert.Equal(t, 1, s.Stats().Refresh)
		assertOAuthError(t, post(t, s, fakeuc.TokenPath, refreshForm("uc-rt-x")), 400, "invalid_grant")
	})

	t.Run("truncate", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.TokenPath, fakeuc.Fault{
			Truncate: true,
			Body:     `{"access_token":"uc-at-`,
			Header:   http.Header{"Content-Type": {"application/json"}},
			Times:    1,
		})
		resp, err := s.Client().PostForm(s.URL+fakeuc.TokenPath, refreshForm("uc-rt-x"))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		b, err := io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, `{"access_token":"uc-at-`, string(b))
	})

	t.Run("x/oauth2 sees the fault", func(t *testing.T) {
		s := newServer(t)
		s.Fail(fakeuc.TokenPath, fakeuc.Fault{
			Status: 503,
			Body:   `{"error":"temporarily_unavailable"}`,
			Header: http.Header{"Content-Type": {"application/json"}},
		})
		_, err := oauthConfig(s).TokenSource(clientCtx(s), s.IssueToken("")).Token()
		require.NoError(t, err, "a live token needs no request")
		_, err = oauthConfig(s).TokenSource(clientCtx(s), &oauth2.Token{RefreshToken: "uc-rt-x"}).Token()
		var re *oauth2.RetrieveError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 503, re.Response.StatusCode)
		assert.Equal(t, "temporarily_unavailable", re.ErrorCode)
	})
}

func TestCloseWithHungRequest(t *testing.T) {
	s := fakeuc.NewServer()
	s.Fail(fakeuc.TokenPath, fakeuc.Fault{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() {
		resp, err := s.Client().PostForm(s.URL+fakeuc.TokenPath, refreshForm("uc-rt-x"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.Stats().Token == 1 }, 5*time.Second, 5*time.Millisecond)

	start := time.Now()
	s.Close()
	assert.Less(t, time.Since(start), 2*time.Second)
	select {
	case err := <-errc:
		assert.Error(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("the hung request did not end after Close")
	}
	s.Close() // a second Close is harmless

	_, err := http.Get(s.URL + fakeuc.ItemsPath)
	assert.Error(t, err, "closed server still answers")
}

func TestStatsAndRequests(t *testing.T) {
	s := newServer(t)
	at, rt := tokens(t, s)
	post(t, s, fakeuc.TokenPath, refreshForm(rt))
	dc := decode(t, post(t, s, fakeuc.DeviceAuthPath, url.Values{"client_id": {testClient}, "scope": {"item_read"}}).Body)["device_code"].(string)
	post(t, s, fakeuc.TokenPath, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {testClient}, "device_code": {dc},
	})
	post(t, s, fakeuc.TokenPath, url.Values{"grant_type": {"password"}, "client_id": {testClient}})
	items(t, s, at)
	post(t, s, fakeuc.RevokePath, url.Values{"client_id": {testClient}, "token": {at}})
	get(t, s, "/nope", url.Values{"a": {"b"}}, nil)

	assert.Equal(t, fakeuc.Stats{
		Authorize: 1, Token: 4, Exchange: 1, Refresh: 1, Device: 1, DeviceToken: 1, Revoke: 1, API: 1, Rotations: 1,
	}, s.Stats())

	reqs := s.Requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Path)
	}
	assert.Equal(t, []string{
		"GET /rest/v2/oauth/authorize",
		"POST /rest/v2/oauth/token",
		"POST /rest/v2/oauth/token",
		"POST /rest/v2/oauth/device/authorize",
		"POST /rest/v2/oauth/token",
		"POST /rest/v2/oauth/token",
		"GET /rest/v2/item/items",
		"POST /rest/v2/oauth/revoke",
		"GET /nope",
	}, got)
	assert.Equal(t, "st-123", reqs[0].Form.Get("state"))
	assert.Equal(t, "authorization_code", reqs[1].Form.Get("grant_type"))
	assert.Equal(t, "Bearer "+at, reqs[6].Header.Get("Authorization"))
	assert.Equal(t, url.Values{"a": {"b"}}, reqs[8].Form)

	reqs[1].Form.Set("grant_type", "changed")
	reqs[1].Header.Set("X-Changed", "1")
	again := s.Requests()
	assert.Equal(t, "authorization_code", again[1].Form.Get("grant_type"), "Requests returns copies")
	assert.Empty(t, again[1].Header.Get("X-Changed"))

	last, ok := s.LastRequest(fakeuc.TokenPath)
	require.True(t, ok)
	assert.Equal(t, "password", last.Form.Get("grant_type"))
	_, ok = s.LastRequest("/never")
	assert.False(t, ok)
}

func TestConcurrentUse(t *testing.T) {
	s := newServer(t)
	const workers, rounds = 16, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check := func(r *http.Response, err error) map[string]any {
				if err != nil {
					errs <- err
					return nil
				}
				defer r.Body.Close()
				var m map[string]any
				if r.StatusCode != http.StatusOK {
					errs <- errors.New(r.Status)
					return nil
				}
				if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
					errs <- err
				}
				return m
			}
			c := noFollow(s)
			rt := s.IssueToken("").RefreshToken
			for range rounds {
				if w%2 == 0 {
					resp, err := c.Get(s.URL + fakeuc.AuthorizePath + "?" + authorizeQuery().Encode())
					if err != nil {
						errs <- err
						continue
					}
					resp.Body.Close()
					loc, _ := url.Parse(resp.Header.Get("Location"))
					check(c.PostForm(s.URL+fakeuc.TokenPath, exchangeForm(loc.Query().Get("code"))))
				}
				m := check(c.PostForm(s.URL+fakeuc.TokenPath, refreshForm(rt)))
				if m == nil {
					return
				}
				rt = m["refresh_token"].(string)
				s.SetOptions(s.Options()) // options race with requests
				_ = s.Stats()
				_ = s.Requests()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	st := s.Stats()
	assert.Equal(t, workers/2*rounds, st.Exchange)
	assert.Equal(t, workers*rounds, st.Refresh)
	assert.Equal(t, st.Exchange+st.Refresh, st.Token)
}

func TestNoSecretInErrors(t *testing.T) {
	s := newServer(t)
	s.SetOptions(fakeuc.Options{ClientSecret: "the-real-secret", ClientID: testClient})
	secretKeys := []string{"code", "refresh_token", "device_code", "client_secret", "token"}
	at, rt := "uc-at-0123456789abcdef", "uc-rt-0123456789abcdef"
	tests := []struct {
		name string
		path string
		form url.Values
	}{
		{"wrong secret", fakeuc.TokenPath, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {testClient}, "client_secret": {"wrong-secret-XYZ"}, "refresh_token": {rt},
		}},
		{"unknown code", fakeuc.TokenPath, url.Values{
			"grant_type": {"authorization_code"}, "client_id": {testClient}, "client_secret": {"the-real-secret"},
			"code": {"uc-code-secretcode"}, "redirect_uri": {testRedirect},
		}},
		{"unknown refresh token", fakeuc.TokenPath, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {testClient}, "client_secret": {"the-real-secret"}, "refresh_token": {rt},
		}},
		{"unknown device code", fakeuc.TokenPath, url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {testClient},
			"client_secret": {"the-real-secret"}, "device_code": {"uc-dc-secretdevice"},
		}},
		{"unsupported grant", fakeuc.TokenPath, url.Values{
			"grant_type": {"password"}, "client_id": {testClient}, "client_secret": {"the-real-secret"}, "code": {"abc-secret"},
		}},
		{"revoke other client", fakeuc.RevokePath, url.Values{
			"client_id": {"intruder"}, "token": {at}, "client_secret": {"the-real-secret"},
		}},
		{"revoke missing client", fakeuc.RevokePath, url.Values{"token": {at}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, s, tc.path, tc.form)
			require.GreaterOrEqual(t, r.Status, 400)
			msg := r.Header.Get("UC-REST-ERROR")
			require.NotEmpty(t, msg)
			for _, k := range secretKeys {
				if v := tc.form.Get(k); v != "" {
					assert.NotContains(t, r.Body, v, k)
					assert.NotContains(t, msg, v, k)
				}
			}
			assert.NotContains(t, r.Body, "the-real-secret")
		})
	}
	bearer := get(t, s, fakeuc.ItemsPath, nil, map[string]string{"Authorization": "Bearer " + at})
	assert.NotContains(t, bearer.Body, at)
	assert.NotContains(t, bearer.Header.Get("UC-REST-ERROR"), at)
}

func TestUserCodeFormat(t *testing.T) {
	s := newServer(t)
	re := regexp.MustCompile(`^[A-Z]{4}-[A-Z]{4}$`)
	seen := map[string]bool{}
	for range 20 {
		m := decode(t, post(t, s, fakeuc.DeviceAuthPath, url.Values{"client_id": {testClient}, "scope": {"item_read"}}).Body)
		uc := m["user_code"].(string)
		assert.True(t, re.MatchString(uc), uc)
		seen[uc] = true
	}
	assert.Greater(t, len(seen), 15, "user codes are random")
}
