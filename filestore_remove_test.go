package ultracart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestFileStoreRemove(t *testing.T) {
	ctx := context.Background()
	t.Run("removes the token, keeps the lock file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		s := NewFileStore(path)
		require.NoError(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-0123"}))
		unlock, err := s.Lock(ctx)
		require.NoError(t, err)
		unlock()
		require.FileExists(t, path+".lock")

		require.NoError(t, s.Remove(ctx))
		assert.NoFileExists(t, path)
		assert.FileExists(t, path+".lock", "the lock file must stay")
		_, err = s.Load(ctx)
		assert.ErrorIs(t, err, ErrNoToken)

		// The store still works: save, lock and remove again.
		require.NoError(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-4567"}))
		require.NoError(t, s.Remove(ctx))
		assert.NoFileExists(t, path)
	})
	t.Run("missing file or directory: nothing to do", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "missing")
		require.NoError(t, NewFileStore(filepath.Join(dir, "token.json")).Remove(ctx))
		assert.NoDirExists(t, dir, "Remove creates nothing")

		dir = t.TempDir()
		require.NoError(t, NewFileStore(filepath.Join(dir, "token.json")).Remove(ctx))
	})
	t.Run("waits for the lock another holder has", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token.json")
		holder := NewFileStore(path) // its own lock file handle, as another process has
		require.NoError(t, holder.Save(ctx, &oauth2.Token{AccessToken: "uc-at-0123"}))
		unlock, err := holder.Lock(ctx)
		require.NoError(t, err)

		s := NewFileStore(path)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err = s.Remove(short)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
		assert.Contains(t, err.Error(), "ultracart: locking "+path+".lock")
		assert.FileExists(t, path, "nothing removed without the lock")

		// The same store's own lock holder blocks it too.
		unlock()
		unlock, err = s.Lock(ctx)
		require.NoError(t, err)
		short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, s.Remove(short), context.DeadlineExceeded)
		assert.FileExists(t, path)
		unlock()

		require.NoError(t, s.Remove(ctx))
		assert.NoFileExists(t, path)
	})
	t.Run("a failed removal names the path", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "token.json")
		require.NoError(t, os.MkdirAll(filepath.Join(path, "inside"), 0o700)) // a non-empty directory cannot be removed
		err := NewFileStore(path).Remove(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ultracart: removing the token file "+path)
	})
}
