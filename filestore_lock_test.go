package ultracart

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileStoreLockAbandonedWait checks that a Lock whose context ends while
// another holder has the lock gives up at once, and that the wait it leaves
// behind lets go of the lock as soon as it gets it: another store on the
// path, and the same store, can lock afterwards.
func TestFileStoreLockAbandonedWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	holder, waiter, other := NewFileStore(path), NewFileStore(path), NewFileStore(path)

	unlock, err := holder.Lock(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err = waiter.Lock(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualError(t, err, "ultracart: locking "+path+".lock: context deadline exceeded")
	unlock()

	// The abandoned wait now gets the lock and drops it again.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err = other.Lock(ctx)
	require.NoError(t, err, "the abandoned wait kept the lock")
	unlock()
	unlock, err = waiter.Lock(ctx)
	require.NoError(t, err, "the abandoned wait kept the store's turn")
	unlock()

	// A context that is already done fails even when the lock is free.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = waiter.Lock(done)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestFileStoreLazy checks that a FileStore that is never locked holds no
// lock machinery: an idle merchant's store costs its path and little more.
func TestFileStoreLazy(t *testing.T) {
	s := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	assert.Nil(t, s.turn)
	unlock, err := s.Lock(context.Background())
	require.NoError(t, err)
	assert.NotNil(t, s.turn)
	unlock()
}
