package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/internal/fakeuc"
)

// dyingStore is a FileStore whose saves never happen, like a process killed
// after the server answered a refresh and before the new token reached the
// disk.
type dyingStore struct{ *ultracart.FileStore }

func (dyingStore) Save(context.Context, *oauth2.Token) error {
	return errors.New("ultracart: killed before the save")
}

// TestKillBetweenRotationAndSave replays, deterministically, the sequence
// behind every reuse the default soak reports: worker A refreshes, the
// server rotates, A dies before saving; worker B, sharing the store, loads
// the old token and refreshes with it. Against a strict server that is a
// reuse and the family is revoked; a grace period absorbs it. No client can
// do better, since the new refresh token died with A.
func TestKillBetweenRotationAndSave(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			srv := fakeuc.NewServer()
			defer srv.Close()
			srv.SetOptions(fakeuc.Options{ReuseDetection: true, ReuseGrace: grace})
			path := filepath.Join(t.TempDir(), "merchant.json")
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
			tok := srv.IssueToken("")
			tok.Expiry = time.Now().Add(-time.Minute) // due for a refresh
			require.NoError(t, ultracart.NewFileStore(path).Save(ctx, tok))
			conf := oauthConfig(srv.URL)

			// A: the refresh is carried out, the save never happens.
			_, err := ultracart.PersistentTokenSource(ctx, conf, dyingStore{ultracart.NewFileStore(path)}).Token()
			require.ErrorIs(t, err, ultracart.ErrPersist)
			require.Equal(t, 1, srv.Stats().Rotations)

			// B: a fresh process over the same store.
			b := ultracart.NewClient(ctx, ultracart.PersistentTokenSource(ctx, conf, ultracart.NewFileStore(path)))
			reason := call(ctx, b, srv.URL)
			st := srv.Stats()
			if grace == 0 {
				assert.Equal(t, "refresh-invalid_grant", reason)
				assert.Equal(t, 1, st.ReuseDetected)
				assert.Equal(t, 1, st.FamiliesRevoked)
			} else {
				assert.Empty(t, reason)
				assert.Equal(t, 1, st.GraceReuses)
				assert.Equal(t, 0, st.FamiliesRevoked)
			}
			assert.Equal(t, []string{fakeuc.TokenPath, fakeuc.TokenPath},
				tokenPaths(srv.Requests()), "A and B each refreshed once, with the same refresh token")
			assert.Equal(t, srv.Requests()[0].Form.Get("refresh_token"), srv.Requests()[1].Form.Get("refresh_token"))
		})
	}
}

func tokenPaths(reqs []fakeuc.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method == http.MethodPost {
			out = append(out, r.Path)
		}
	}
	return out
}
