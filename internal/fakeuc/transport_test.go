package fakeuc_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// TestTransport: a request served in memory gets the answer it gets over the
// network, and counts as one; a fault that needs a connection fails it, and
// so does Close.
func TestTransport(t *testing.T) {
	s := newServer(t)
	client := &http.Client{Transport: s.Transport()}
	get := func(at string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, s.URL+fakeuc.ItemsPath, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+at)
		req.Header.Set("X-UltraCart-Api-Version", fakeuc.APIVersion)
		return client.Do(req)
	}
	at := s.IssueToken("item_read").AccessToken
	for at, want := range map[string]int{at: http.StatusOK, "uc-at-unknown": http.StatusUnauthorized} {
		resp, err := get(at)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "%s", body)
		assert.Equal(t, items(t, s, at).Body, string(body), "the answer over the network")
	}
	assert.Equal(t, 4, s.Stats().API)

	for _, f := range []fakeuc.Fault{{Reset: true}, {Truncate: true, Body: "{"}, {LoseResponse: true}} {
		s.Fail(fakeuc.ItemsPath, f)
		_, err := get(at)
		assert.ErrorIs(t, err, syscall.ECONNRESET, "%+v", f)
		s.ClearFaults()
	}
	resp, err := get(at)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a dropped request leaves the server serving")

	s.Close()
	_, err = get(at)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "after Close")
}
