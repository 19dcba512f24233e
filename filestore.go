package ultracart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/oauth2"
)

// FileStore is a [TokenStore] and [Locker] that keeps one token in a file,
// so that it survives restarts and crashes and can be shared by processes.
// Make one with [NewFileStore]: every method of a zero FileStore, or of one
// made with an empty path, returns an error saying so.
//
// A missing file is an error matching [ErrNoToken]; an empty, corrupt or
// unreadable file is an error naming the path, never ErrNoToken. Errors never
// contain the token's secrets. A FileStore is safe for concurrent use by
// multiple goroutines; several FileStore values (or processes) may share a
// path.
//
// The file holds the JSON of an [oauth2.Token], with the scope UltraCart
// granted beside its fields (as "scope", which Load puts back among the
// token's extras).
//
// Save creates the parent directory with mode 0700 when it is missing and
// writes the file with mode 0600: it writes a temporary file in the same
// directory, syncs it, renames it over the file and syncs the directory, so
// that a crash at any moment leaves the old token or the new one, never a
// torn file (a crash may leave the temporary file behind; a later Save
// removes those older than a minute).
//
// Lock takes an exclusive lock on a separate file beside it, the path plus
// ".lock", which works across processes on Linux, macOS and Windows; within
// one process, the callers of Lock take turns as well. [PersistentTokenSource]
// holds it while it reloads, refreshes and saves the token.
//
// When the path is a symbolic link, the store works on the file it leads to,
// resolved afresh by each method: Save writes through the link (the
// temporary file goes beside the target), Lock locks beside the target and
// Remove removes the target, so that the link and the target are one store.
// Load and Lock refuse a file that is not a regular one (a FIFO, say)
// without waiting on it. Every method refuses a directory that others can
// write to unless it is sticky (as /tmp is), and follows no link in a sticky
// one; on Unix, Lock never follows a link at the lock file's path.
type FileStore struct {
	path string

	mu   sync.Mutex
	turn chan struct{} // holds a value while a caller of Lock has the lock; made on first use
}

// NewFileStore returns a [FileStore] over the file at path, which need not
// exist yet.
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path}
}

// errUnusable is the error of the methods of a FileStore that NewFileStore
// did not make, or made with an empty path.
var errUnusable = errors.New("ultracart: the FileStore has no path; make it with NewFileStore")

// usable reports errUnusable for a FileStore that cannot work.
func (s *FileStore) usable() error {
	if s == nil || s.path == "" {
		return errUnusable
	}
	return nil
}

// Load reads the token from the file; a missing file is an error matching
// [ErrNoToken].
func (s *FileStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ultracart: reading the token file %s: %w", s.path, err)
	}
	path, err := s.file()
	if err != nil {
		return nil, fmt.Errorf("ultracart: reading the token file %s: %w", s.path, err)
	}
	// Not blocking on a FIFO, and not following a link that replaced the
	// file since it was resolved.
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock|noFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &noTokenError{where: s.path}
	}
	if err != nil {
		return nil, fmt.Errorf("ultracart: reading the token file %s: %w", s.path, err)
	}
	defer f.Close()
	if err := regular(f); err != nil {
		return nil, fmt.Errorf("ultracart: reading the token file %s: %w", s.path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("ultracart: reading the token file %s: %w", s.path, err)
	case len(b) > maxBody:
		return nil, fmt.Errorf("ultracart: the token file %s is larger than 1 MiB", s.path)
	case len(b) == 0:
		return nil, fmt.Errorf("ultracart: the token file %s is empty", s.path)
	}
	var file tokenFile
	if err := json.Unmarshal(b, &file); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// A syntax error quotes no part of the file.
			return nil, fmt.Errorf("ultracart: the token file %s is corrupt: %w", s.path, err)
		}
		// Other decoding errors may quote a value: leave them out.
		return nil, fmt.Errorf("ultracart: the token file %s is corrupt: it does not hold an oauth2.Token", s.path)
	}
	tok := &file.Token
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, fmt.Errorf("ultracart: the token file %s is corrupt: it holds neither an access token nor a refresh token", s.path)
	}
	if file.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": file.Scope})
	}
	return tok, nil
}

// maxLinks bounds the symbolic links s.file follows, as Linux bounds them.
const maxLinks = 40

// file returns the path of the token file: the store's path or, when that is
// a symbolic link, the file the link leads to, which need not exist. It
// refuses a directory on the way that others can write to, unless it is
// sticky, and a link in a sticky one, which anyone may have planted.
func (s *FileStore) file() (string, error) {
	path := s.path
	for range maxLinks {
		// Split, not filepath.Dir, which cleans the text: to the system,
		// "d/.." is the parent of where d leads when d is a link.
		dir, name := filepath.Split(path)
		if dir == "" {
			dir = "." + string(filepath.Separator)
		}
		shared, err := sharedDir(strings.TrimSuffix(dir, string(filepath.Separator)))
		if err != nil {
			return "", err
		}
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			if strings.Contains(dir, "..") { // give the callers' filepath.Dir a text it reads right
				if real, err := filepath.EvalSymlinks(dir); err == nil {
					path = filepath.Join(real, name)
				}
			}
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if shared {
			return "", fmt.Errorf("the symbolic link %s is in a directory others can write to; it is not followed", path)
		}
		to, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			to = dir + to // uncleaned, as the system reads it
		}
		path = to
	}
	return "", fmt.Errorf("more than %d symbolic links lead from %s", maxLinks, s.path)
}

// sharedDir reports whether others can write to dir, which must then be
// sticky: a directory that others can write to and is not sticky is an
// error. A missing one is not shared: Save and Lock make it private.
func sharedDir(dir string) (bool, error) {
	if runtime.GOOS == "windows" { // it has no such mode bits
		return false, nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode().Perm()&0o002 == 0:
		return false, nil
	case fi.Mode()&fs.ModeSticky == 0:
		return false, fmt.Errorf("the directory %s is writable by others and not sticky", dir)
	}
	return true, nil
}

// regular returns an error unless f, an open file, is a regular one.
func regular(f interface{ Stat() (fs.FileInfo, error) }) error {
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("it is not a regular file")
	}
	return err
}

// tokenFile is the file's JSON: an oauth2.Token, and beside its fields the
// scope UltraCart granted, which oauth2.Token keeps only among its extras.
type tokenFile struct {
	oauth2.Token
	Scope string `json:"scope,omitempty"`
}

// Save replaces the file with t, atomically (see [FileStore]).
func (s *FileStore) Save(ctx context.Context, t *oauth2.Token) error {
	if err := s.usable(); err != nil {
		return err
	}
	if t == nil {
		return errors.New("ultracart: cannot save a nil token")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ultracart: saving the token to %s: %w", s.path, err)
	}
	file := tokenFile{Token: *t}
	if scope, ok := t.Extra("scope").(string); ok {
		file.Scope = scope
	}
	b, err := json.Marshal(file)
	if err != nil {
		return fmt.Errorf("ultracart: saving the token to %s: encoding failed", s.path)
	}
	path, err := s.file()
	if err == nil {
		err = writeFile(path, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("ultracart: saving the token to %s: %w", s.path, err)
	}
	return nil
}

// writeFile puts b into the file at path through a synced temporary file and a
// rename.
func writeFile(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	removeStaleTemps(path)
	return nil
}

// staleTemp is the age from which a temporary file is taken to be left by a
// save that crashed: a live save holds its file for milliseconds.
const staleTemp = time.Minute

// removeStaleTemps removes the temporary files that crashed saves of path
// left behind. It is best effort: a file it cannot remove stays.
func removeStaleTemps(path string) {
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+escapeGlob(filepath.Base(path))+".tmp-*"))
	for _, t := range temps {
		if fi, err := os.Lstat(t); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(t)
		}
	}
}

// escapeGlob quotes the characters filepath.Match gives a meaning to.
func escapeGlob(s string) string {
	if runtime.GOOS == "windows" { // where \ is a separator, not an escape
		return strings.NewReplacer("*", "?", "[", "?").Replace(s)
	}
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(s)
}

// syncDir makes a rename in dir durable. Windows cannot sync a directory;
// its renames are journaled by NTFS.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Lock takes the exclusive lock of the store, as [Locker] asks, waiting for
// other processes and for other callers in this process until ctx is done.
// The returned unlock releases it; calling it again does nothing.
//
// While another process holds the lock, Lock waits in the operating system,
// which wakes it the moment the lock is free, rather than trying again at
// intervals. When ctx ends first, Lock returns at once; the abandoned wait
// lets go of the lock as soon as it gets it, and until then the other
// callers in this process keep waiting their turn.
func (s *FileStore) Lock(ctx context.Context) (unlock func(), err error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	path, err := s.file()
	if err != nil {
		return nil, fmt.Errorf("ultracart: locking %s.lock: %w", s.path, err)
	}
	return s.lock(ctx, path)
}

// lock is Lock on the token file at path, which s.file returned.
func (s *FileStore) lock(ctx context.Context, path string) (unlock func(), err error) {
	turn := s.turnChan()
	lockPath := path + ".lock"
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ultracart: locking %s: %w", lockPath, ctx.Err())
	}
	release := func() { <-turn }
	if err := ctx.Err(); err != nil { // the turn was free, but ctx is done
		release()
		return nil, fmt.Errorf("ultracart: locking %s: %w", lockPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		release()
		return nil, fmt.Errorf("ultracart: locking %s: %w", lockPath, err)
	}
	l := flock.New(lockPath, flock.SetPermissions(0o600), flock.SetFlag(os.O_CREATE|os.O_RDONLY|noFollow|nonBlock))
	ok, err := l.TryLock()
	if fi, lerr := os.Lstat(lockPath); err != nil && lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		err = errors.New("it is a symbolic link, which the store does not follow") // rather than ELOOP's text
	}
	if err == nil && !ok {
		var abandoned bool
		if abandoned, err = waitLock(ctx, l, release); abandoned {
			// The wait goes on without us, and gives the turn back.
			return nil, fmt.Errorf("ultracart: locking %s: %w", lockPath, err)
		}
	}
	if err == nil {
		if err = regular(l); err != nil {
			_ = l.Unlock()
		}
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("ultracart: locking %s: %w", lockPath, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = l.Unlock() // also closes the lock file; the OS drops the lock either way
			release()
		})
	}, nil
}

// waitLock takes l, blocking in the operating system, until ctx is done.
// When ctx ends first, it returns ctx's error and abandoned, and leaves a
// goroutine that finishes the wait, unlocks l at once and then calls
// release.
func waitLock(ctx context.Context, l *flock.Flock, release func()) (abandoned bool, err error) {
	done := make(chan error, 1)
	go func() { done <- l.Lock() }()
	select {
	case err := <-done:
		return false, err
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				_ = l.Unlock()
			}
			release()
		}()
		return true, ctx.Err()
	}
}

// turnChan returns the channel that serializes the callers of Lock in this
// process, making it on first use so that a store that never locks costs
// nothing for it.
func (s *FileStore) turnChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.turn == nil {
		s.turn = make(chan struct{}, 1)
	}
	return s.turn
}

// Remove deletes the token file under the store's lock, waiting for the lock
// as [FileStore.Lock] does (until ctx is done), so that it never lands
// between another process's load and save of a refreshed token. The lock file stays:
// deleting it would let a new process lock a fresh file while another still
// holds the old one. A missing file is not an error. Remove takes the lock
// itself: do not call it while holding the lock from Lock.
func (s *FileStore) Remove(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	path, err := s.file()
	if err != nil {
		return fmt.Errorf("ultracart: removing the token file %s: %w", s.path, err)
	}
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing to remove, and no directory to create for the lock
	}
	unlock, err := s.lock(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("ultracart: removing the token file %s: %w", s.path, err)
	}
	return nil
}
