//go:build unix

package ultracart

import "syscall"

// The flags with which the store opens its files: a symbolic link is not
// followed (O_NOFOLLOW fails on one), and opening a FIFO does not wait for a
// writer.
const (
	noFollow = syscall.O_NOFOLLOW
	nonBlock = syscall.O_NONBLOCK
)
