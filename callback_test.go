package ultracart_test

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart"
)

func TestNewState(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := ultracart.NewState()
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(b)*8, 128)
		assert.Equal(t, s, url.QueryEscape(s), "safe in a URL as it is")
		assert.False(t, seen[s], "repeated state")
		seen[s] = true
	}
}

func TestParseCallback(t *testing.T) {
	const state = "state-SECRET-4411"
	tests := []struct {
		name     string
		query    string
		expected string // the state the application sent
		code     string
		is       error
		wantErr  *ultracart.Error
	}{
		{name: "code", query: "code=" + testCode + "&state=" + state, expected: state, code: testCode},
		{name: "wrong state", query: "code=" + testCode + "&state=other", expected: state, is: ultracart.ErrStateMismatch},
		{name: "missing state", query: "code=" + testCode, expected: state, is: ultracart.ErrStateMismatch},
		{name: "empty state", query: "code=" + testCode + "&state=", expected: state, is: ultracart.ErrStateMismatch},
		{name: "two states", query: "code=" + testCode + "&state=" + state + "&state=" + state, expected: state, is: ultracart.ErrStateMismatch},
		{name: "expected state empty", query: "code=" + testCode + "&state=", expected: "", is: ultracart.ErrStateMismatch},
		{name: "prefix of state", query: "code=" + testCode + "&state=" + state[:5], expected: state, is: ultracart.ErrStateMismatch},
		{name: "error with wrong state", query: "error=access_denied&state=x", expected: state, is: ultracart.ErrStateMismatch},
		{name: "access denied", query: "error=access_denied&error_description=The+merchant+said+no&state=" + state, expected: state,
			is: ultracart.ErrAccessDenied, wantErr: &ultracart.Error{Code: "access_denied", Description: "The merchant said no"}},
		{name: "expired link", query: "error=invalid_request&state=" + state, expected: state,
			is: ultracart.ErrInvalidRequest, wantErr: &ultracart.Error{Code: "invalid_request"}},
		{name: "error echoing the state", query: "error=access_denied&error_description=" + state + "&state=" + state, expected: state,
			is: ultracart.ErrAccessDenied, wantErr: &ultracart.Error{Code: "access_denied", Description: "[redacted]"}},
		{name: "no code", query: "state=" + state, expected: state},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/callback?"+tt.query, nil)
			code, err := ultracart.ParseCallback(r, tt.expected)
			if tt.code != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.code, code)
				return
			}
			require.Error(t, err)
			assert.Empty(t, code)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			if tt.wantErr != nil {
				var e *ultracart.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, *tt.wantErr, *e)
			}
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				text := fmt.Sprintf(verb, err)
				assert.NotContains(t, text, state)
				assert.NotContains(t, text, testCode)
			}
		})
	}
}
