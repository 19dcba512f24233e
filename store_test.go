package ultracart

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	t.Run("copies", func(t *testing.T) {
		orig := &oauth2.Token{AccessToken: "at", RefreshToken: "rt"}
		s := NewMemoryStore(orig)
		orig.AccessToken = "changed"
		got, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, "at", got.AccessToken, "NewMemoryStore keeps a copy")
		got.AccessToken = "changed too"
		got2, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, "at", got2.AccessToken, "Load returns a copy")
		assert.NotSame(t, got, got2)

		saved := &oauth2.Token{AccessToken: "at2"}
		require.NoError(t, s.Save(ctx, saved))
		saved.AccessToken = "changed"
		got3, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, "at2", got3.AccessToken, "Save keeps a copy")
	})
	t.Run("empty", func(t *testing.T) {
		for _, s := range []*MemoryStore{NewMemoryStore(nil), new(MemoryStore)} {
			tok, err := s.Load(ctx)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, ErrNoToken)
			assert.EqualError(t, err, "ultracart: no token stored in the memory store; run the authorization flow first")
			assert.EqualError(t, s.Save(ctx, nil), "ultracart: cannot save a nil token")
		}
	})
	t.Run("lock", func(t *testing.T) {
		var s MemoryStore
		unlock, err := s.Lock(ctx)
		require.NoError(t, err)
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err = s.Lock(tctx)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		unlock()
		unlock()
		unlock2, err := s.Lock(ctx)
		require.NoError(t, err)
		unlock2()
	})
	var _, _ Locker = new(MemoryStore), new(FileStore)
	var _, _ TokenStore = new(MemoryStore), new(FileStore)
}
