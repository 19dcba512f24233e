//go:build unix

package pgstore

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ultracart-go/ultracart"
)

// TestStalledHolder: a replica that stops while it holds a lock (SIGSTOP:
// a stalled process, as a host gone silent) loses it once its lock session
// has been silent for the idle timeout; a live holder keeps it longer.
func TestStalledHolder(t *testing.T) {
	t.Parallel() // it waits more than it computes
	pool := needPG(t, 0)
	s := newStore(t, pool, Options{})
	const idle = 300 * time.Millisecond
	holder := startChild(t, "holder", childTable+"="+s.table, childLockKey+"=M", childIdle+"="+idle.String())
	require.Equal(t, "locked", holder.line(t))
	lock := s.For("M").(ultracart.Locker)

	ctx, cancel := context.WithTimeout(context.Background(), 2*idle)
	_, err := lock.Lock(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a live holder keeps its lock past the idle timeout")

	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := lock.Lock(ctx)
	require.NoError(t, err)
	free := time.Since(stopped)
	t.Logf("a stalled holder's lock was free after %v (idle timeout %v)", free, idle)
	assert.Less(t, free, 5*time.Second)
	unlock()
}
