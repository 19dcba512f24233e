//go:build !unix

package ultracart

// The flags of filestore_unix.go, which these systems lack. Windows keeps no
// FIFOs among files, and Load and Lock check what they opened before they
// read or lock it; a symbolic link at the lock file's path is followed there.
const (
	noFollow = 0
	nonBlock = 0
)
