//go:build unix

package ultracart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// TestFileStoreLockSymlink (issue 17, point 6): a symbolic link planted at
// the lock file's path is not followed: Lock fails, naming the lock file,
// and creates nothing where the link points.
func TestFileStoreLockSymlink(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	victim := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.Symlink(victim, path+".lock"))
	s := NewFileStore(path)
	require.NoError(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-SECRET"}))

	_, err := s.Lock(ctx)
	require.Error(t, err)
	assert.EqualError(t, err, "ultracart: locking "+path+".lock: it is a symbolic link, which the store does not follow")
	assert.Error(t, s.Remove(ctx), "Remove locks too")
	assert.NoFileExists(t, victim, "the link was followed")
	assert.FileExists(t, path)
}

// TestFileStoreDirectoryOthersCanWrite (issue 17, point 6): a token directory
// that others can write to is refused, by every method, with an error naming
// it, unless it is sticky; and in a sticky one, where others may still plant
// names, a symbolic link at the token path is not followed.
func TestFileStoreDirectoryOthersCanWrite(t *testing.T) {
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "uc-at-SECRET", RefreshToken: "uc-rt-SECRET"}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o777))
	path := filepath.Join(dir, "token.json")
	s := NewFileStore(path)
	_, loadErr := s.Load(ctx)
	lockErr := func() error {
		unlock, err := s.Lock(ctx)
		if err == nil {
			unlock()
		}
		return err
	}()
	for _, err := range []error{loadErr, lockErr, s.Save(ctx, tok), s.Remove(ctx)} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the directory "+dir+" is writable by others and not sticky")
		assert.NotContains(t, err.Error(), "SECRET")
	}
	assert.Empty(t, psDirNames(t, dir), "nothing written")

	// The same through a link from a private directory.
	link := filepath.Join(t.TempDir(), "token.json")
	require.NoError(t, os.Symlink(path, link))
	err := NewFileStore(link).Save(ctx, tok)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the directory "+dir+" is writable by others")
	assert.Empty(t, psDirNames(t, dir))

	// Sticky, as /tmp is: the store works.
	require.NoError(t, os.Chmod(dir, 0o777|os.ModeSticky))
	require.NoError(t, s.Save(ctx, tok))
	unlock, err := s.Lock(ctx)
	require.NoError(t, err)
	unlock()
	got, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, "uc-rt-SECRET", got.RefreshToken)
	require.NoError(t, s.Remove(ctx))

	// But a link there is not followed: another user may have planted it.
	planted := filepath.Join(dir, "planted.json")
	victim := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.Symlink(victim, planted))
	err = NewFileStore(planted).Save(ctx, tok)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the symbolic link "+planted+" is in a directory others can write to")
	assert.NoFileExists(t, victim)
}

// TestFileStoreNonRegularFile (issue 17, point 7): a FIFO at the token path,
// or at its lock file's, is refused at once instead of blocking in the
// kernel until something writes to it.
func TestFileStoreNonRegularFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		at   string // the suffix of the path the FIFO is made at
		call func(s *FileStore) error
		want string
	}{
		{"load", "", func(s *FileStore) error { _, err := s.Load(ctx); return err }, "ultracart: reading the token file %s: it is not a regular file"},
		{"lock", ".lock", func(s *FileStore) error { _, err := s.Lock(ctx); return err }, "ultracart: locking %s.lock: it is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			fifo := path + tc.at
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			done := make(chan error, 1)
			go func() { done <- tc.call(NewFileStore(path)) }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.Contains(t, err.Error(), fmt.Sprintf(tc.want, path))
			case <-time.After(5 * time.Second): // a bound for failing only
				// Let the blocked open return: a writer comes and goes.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatal("blocked on the FIFO at " + fifo)
			}
		})
	}
}
