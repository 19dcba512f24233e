package ultracarttest_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart/ultracarttest"
)

// TestOptionsRoundTrip: every field of Options reaches the server and comes
// back from it.
func TestOptionsRoundTrip(t *testing.T) {
	s := ultracarttest.NewServer()
	defer s.Close()
	var o ultracarttest.Options
	v := reflect.ValueOf(&o).Elem()
	for i := range v.NumField() { // every field set to a value that is not its zero
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Func:
			f.Set(reflect.ValueOf(func() time.Time { return time.Unix(42, 0) }))
		default:
			t.Fatalf("field %s of kind %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	s.SetOptions(o)
	got := s.Options()
	require.NotNil(t, got.Clock)
	assert.Equal(t, time.Unix(42, 0), got.Clock())
	got.Clock, o.Clock = nil, nil
	assert.Equal(t, o, got)
}

// TestFailStatsRequests: a queued fault, the counts and the record of the
// requests go through to the fake.
func TestFailStatsRequests(t *testing.T) {
	s := ultracarttest.NewServer()
	defer s.Close()
	s.SetOptions(ultracarttest.Options{ClientID: "app"})
	s.Fail(ultracarttest.TokenPath, ultracarttest.Fault{
		Status: http.StatusServiceUnavailable, Body: "busy", Header: http.Header{"Retry-After": {"7"}}, Times: 1,
	})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	conf := &oauth2.Config{ClientID: "app", Endpoint: s.Endpoint()}
	tok := s.IssueToken("")

	_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusServiceUnavailable, re.Response.StatusCode)
	assert.Equal(t, "7", re.Response.Header.Get("Retry-After"))
	assert.Equal(t, "busy", string(re.Body))

	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err, "the fault applied once")
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.Error(t, err, "a rotated refresh token is refused")

	resp, err := s.Client().Get(s.URL + ultracarttest.ItemsPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no bearer token")

	assert.Equal(t, ultracarttest.Stats{Token: 3, Refresh: 3, API: 1, Rotations: 1}, s.Stats())
	reqs := s.Requests()
	require.Len(t, reqs, 4)
	last := reqs[2]
	assert.Equal(t, http.MethodPost, last.Method)
	assert.Equal(t, ultracarttest.TokenPath, last.Path)
	assert.Equal(t, "refresh_token", last.Form.Get("grant_type"))
	assert.Equal(t, "application/x-www-form-urlencoded", last.Header.Get("Content-Type"))
}
