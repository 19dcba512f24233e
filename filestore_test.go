package ultracart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestFileStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	s := NewFileStore(path)
	want := &oauth2.Token{
		AccessToken:  "uc-at-0123",
		TokenType:    "bearer",
		RefreshToken: "uc-rt-4567",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		ExpiresIn:    3600,
	}
	require.NoError(t, s.Save(context.Background(), want.WithExtra(map[string]any{"scope": "item_read order_read"})))

	got, err := s.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, want.AccessToken, got.AccessToken)
	assert.Equal(t, want.TokenType, got.TokenType)
	assert.Equal(t, want.RefreshToken, got.RefreshToken)
	assert.True(t, want.Expiry.Equal(got.Expiry))
	assert.Equal(t, want.ExpiresIn, got.ExpiresIn)
	assert.Equal(t, "item_read order_read", got.Extra("scope"), "the granted scope, which oauth2.Token keeps among its extras")

	// The file is the JSON of oauth2.Token, with the scope.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, map[string]any{
		"access_token":  "uc-at-0123",
		"token_type":    "bearer",
		"refresh_token": "uc-rt-4567",
		"expiry":        "2030-01-02T03:04:05.000000006Z",
		"expires_in":    float64(3600),
		"scope":         "item_read order_read",
	}, m)

	// Save replaces; nothing but the file is left in the directory.
	want2 := &oauth2.Token{AccessToken: "uc-at-89", RefreshToken: "uc-rt-ab"}
	for range 5 {
		require.NoError(t, s.Save(context.Background(), want2))
	}
	got, err = s.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "uc-at-89", got.AccessToken)
	assert.True(t, got.Expiry.IsZero())
	assert.Nil(t, got.Extra("scope"), "no scope when none was granted")
	assert.Equal(t, []string{"token.json"}, psDirNames(t, filepath.Dir(path)))
}

func psDirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFileStorePermissions(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "token.json")
	s := NewFileStore(path)
	unlock, err := s.Lock(context.Background()) // Lock creates the directory too
	require.NoError(t, err)
	require.NoError(t, s.Save(context.Background(), &oauth2.Token{AccessToken: "at", RefreshToken: "rt"}))
	unlock()

	for _, tc := range []struct {
		path string
		dir  bool
		perm os.FileMode
	}{
		{filepath.Join(root, "a"), true, 0o700},
		{filepath.Join(root, "a", "b"), true, 0o700},
		{path, false, 0o600},
		{path + ".lock", false, 0o600},
	} {
		fi, err := os.Stat(tc.path)
		require.NoError(t, err, tc.path)
		assert.Equal(t, tc.dir, fi.IsDir(), tc.path)
		if runtime.GOOS != "windows" { // Windows has no such mode bits
			assert.Equal(t, tc.perm, fi.Mode().Perm(), tc.path)
		}
	}
	assert.ElementsMatch(t, []string{"token.json", "token.json.lock"}, psDirNames(t, filepath.Dir(path)))

	// A file that was readable by others is replaced by a private one.
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, s.Save(context.Background(), &oauth2.Token{AccessToken: "at2"}))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
}

func TestFileStoreLoadErrors(t *testing.T) {
	const secret = "uc-at-SECRET0123456789"
	for _, tc := range []struct {
		name     string
		content  *string // nil: no file
		dir      bool    // a directory at the path
		wantText string
	}{
		{name: "missing", wantText: "no token stored in"},
		{name: "empty", content: psPtr(""), wantText: "is empty"},
		{name: "white space", content: psPtr(" \n"), wantText: "is corrupt"},
		{name: "torn", content: psPtr(`{"access_token":"` + secret + `","refresh`), wantText: "is corrupt"},
		{name: "not json", content: psPtr("\x00\x01garbage"), wantText: "is corrupt"},
		{name: "null", content: psPtr("null"), wantText: "neither an access token nor a refresh token"},
		{name: "empty object", content: psPtr("{}"), wantText: "neither an access token nor a refresh token"},
		{name: "array", content: psPtr(`["` + secret + `"]`), wantText: "does not hold an oauth2.Token"},
		{name: "wrong type", content: psPtr(`{"access_token":12345}`), wantText: "does not hold an oauth2.Token"},
		{name: "bad expiry", content: psPtr(`{"access_token":"` + secret + `","expiry":"` + secret + `"}`), wantText: "does not hold an oauth2.Token"},
		{name: "too large", content: psPtr(`{"access_token":"` + strings.Repeat("x", 1<<20) + `"}`), wantText: "larger than 1 MiB"},
		{name: "directory", dir: true, wantText: "reading the token file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.json")
			if tc.content != nil {
				require.NoError(t, os.WriteFile(path, []byte(*tc.content), 0o600))
			}
			if tc.dir {
				require.NoError(t, os.Mkdir(path, 0o700))
			}
			tok, err := NewFileStore(path).Load(context.Background())
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.Contains(t, err.Error(), path, "the error names the path")
			assert.Contains(t, err.Error(), tc.wantText)
			assert.True(t, strings.HasPrefix(err.Error(), "ultracart: "), err.Error())
			assert.NotContains(t, err.Error(), "SECRET")
			assert.NotContains(t, err.Error(), "12345")
			if tc.name == "missing" {
				assert.ErrorIs(t, err, ErrNoToken)
			} else {
				assert.NotErrorIs(t, err, ErrNoToken, "only a missing file means no token")
			}
		})
	}
}

func psPtr[T any](v T) *T { return &v }

func TestFileStoreSaveErrors(t *testing.T) {
	dir := t.TempDir()
	tok := &oauth2.Token{AccessToken: "uc-at-SECRET", RefreshToken: "uc-rt-SECRET"}

	err := NewFileStore(filepath.Join(dir, "token.json")).Save(context.Background(), nil)
	assert.EqualError(t, err, "ultracart: cannot save a nil token")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(dir, "token.json")
	err = NewFileStore(path).Save(ctx, tok)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), path)
	assert.NoFileExists(t, path)

	// The parent "directory" is a file.
	blocker := filepath.Join(dir, "blocker")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
	path = filepath.Join(blocker, "token.json")
	err = NewFileStore(path).Save(context.Background(), tok)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "ultracart: saving the token to "+path), err.Error())
	assert.NotContains(t, err.Error(), "SECRET")
	_, err = NewFileStore(path).Lock(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+".lock")
}

func TestFileStoreConcurrentSaveAndLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "token.json")
	toks := []*oauth2.Token{
		{AccessToken: strings.Repeat("a", 16<<10), RefreshToken: "rt-a"},
		{AccessToken: strings.Repeat("b", 16<<10), RefreshToken: "rt-b"},
	}
	require.NoError(t, NewFileStore(path).Save(context.Background(), toks[0]))
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := range 8 {
		s := NewFileStore(path) // several values on one path, as several processes would have
		wg.Go(func() {
			for i := range 10 {
				if g%2 == 0 {
					if err := s.Save(context.Background(), toks[i%2]); err != nil {
						bad.Add(1)
					}
					continue
				}
				tok, err := s.Load(context.Background())
				if err != nil || (tok.RefreshToken != "rt-a" && tok.RefreshToken != "rt-b") || len(tok.AccessToken) != 16<<10 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, bad.Load())
	assert.Equal(t, []string{"token.json"}, psDirNames(t, filepath.Dir(path)))
}

// TestFileStoreLock: a Lock whose context ends while another holder has the
// lock gives up, and the wait it leaves behind lets go of the lock as soon
// as it gets it. The lock machinery is made on the first Lock only.
func TestFileStoreLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	s1, s2, other := NewFileStore(path), NewFileStore(path), NewFileStore(path)

	assert.Nil(t, s1.turn, "an idle merchant's store costs its path and little more")
	unlock, err := s1.Lock(context.Background())
	require.NoError(t, err)
	assert.NotNil(t, s1.turn)
	assert.FileExists(t, path+".lock")
	for _, s := range []*FileStore{s1, s2} { // the same value, and another one on the path
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := s.Lock(ctx)
		cancel()
		assert.EqualError(t, err, "ultracart: locking "+path+".lock: context deadline exceeded")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
	unlock()
	unlock() // a second call does nothing

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []*FileStore{other, s2, s1} { // the abandoned waits kept neither the lock nor a store's turn
		unlock, err := s.Lock(ctx)
		require.NoError(t, err)
		unlock()
	}

	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s2.Lock(done)
	assert.ErrorIs(t, err, context.Canceled, "a done context fails even when the lock is free")
}

func TestFileStoreLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	stores := []*FileStore{NewFileStore(path), NewFileStore(path)}
	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 10 {
				unlock, err := stores[g%2].Lock(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				n := holders.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(100 * time.Microsecond)
				holders.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), most.Load(), "one holder at a time")
}

// psCrashTokens are the two tokens the saving helper alternates: large, so
// that a kill often lands in the middle of a write.
func psCrashTokens() [2]*oauth2.Token {
	return [2]*oauth2.Token{
		{AccessToken: "old-" + strings.Repeat("o", 128<<10), RefreshToken: "rt-old", Expiry: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
		{AccessToken: "new-" + strings.Repeat("n", 128<<10), RefreshToken: "rt-new", Expiry: time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// psHelperSave saves the two crash tokens in turn, forever, and prints
// "ready" after the first save.
func psHelperSave(path string) error {
	s := NewFileStore(path)
	toks := psCrashTokens()
	for i := 0; ; i++ {
		if err := s.Save(context.Background(), toks[i%2]); err != nil {
			return err
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
}

func TestFileStoreCrashWhileSaving(t *testing.T) {
	t.Parallel() // it waits more than it computes: overlap it with the other slow tests
	// kills SIGKILLs in all, made by workers at once, each on a file of its
	// own, since most of each kill is starting a process. With a save that
	// wrote the file in place instead of renaming a temporary one over it,
	// 29 kills in 40 found it torn: 12 kills all miss that with odds below
	// 1e-6, and take an eighth of the time 100 did.
	const kills, workers = 12, 4
	toks := psCrashTokens()
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		path := filepath.Join(t.TempDir(), "token.json")
		s := NewFileStore(path)
		wg.Go(func() {
			for i := w; i < kills; i += workers {
				h := startPSHelper(t, "save", "ULTRACART_PERSIST_PATH="+path)
				if !assert.Equal(t, "ready", h.line(t)) {
					return
				}
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				if !assert.NoError(t, h.cmd.Process.Kill()) { // SIGKILL on Unix
					return
				}
				_ = h.cmd.Wait()
				for range h.lines {
				}

				tok, err := s.Load(context.Background())
				if !assert.NoError(t, err, "kill %d: the file must parse", i) {
					return
				}
				mu.Lock()
				switch {
				case tok.AccessToken == toks[0].AccessToken && tok.RefreshToken == "rt-old" && tok.Expiry.Equal(toks[0].Expiry):
					counts["old"]++
				case tok.AccessToken == toks[1].AccessToken && tok.RefreshToken == "rt-new" && tok.Expiry.Equal(toks[1].Expiry):
					counts["new"]++
				default:
					assert.Fail(t, "the file holds neither token", "kill %d", i)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, kills, counts["old"]+counts["new"])
}

// TestFileStoreRemovesStaleTemps: a save removes the temporary files that
// crashed saves left behind, and only those: a fresh one may belong to a
// save in progress in another process.
func TestFileStoreRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tok[1].json") // glob characters in the name are taken literally
	stale := filepath.Join(dir, ".tok[1].json.tmp-111")
	fresh := filepath.Join(dir, ".tok[1].json.tmp-222")
	other := filepath.Join(dir, ".other.json.tmp-333")
	for _, f := range []string{stale, fresh, other} {
		require.NoError(t, os.WriteFile(f, []byte("{"), 0o600))
	}
	old := time.Now().Add(-2 * time.Minute)
	require.NoError(t, os.Chtimes(stale, old, old))
	require.NoError(t, os.Chtimes(other, old, old))

	require.NoError(t, NewFileStore(path).Save(context.Background(), &oauth2.Token{AccessToken: "a"}))
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh)
	assert.FileExists(t, other, "another store's files are not touched")
}

// TestFileStoreSymlinkAtPath (issue 17, point 5): a symbolic link at the
// token path is resolved once, and the store works on the file it leads to:
// Save writes through to it (atomically, in its directory) and leaves the
// link in place, and the lock sits beside it, so that the link and the file
// exclude each other.
func TestFileStoreSymlinkAtPath(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		relative bool // the link names its target relative to its directory
		dangling bool // the target does not exist yet
	}{
		{name: "absolute"},
		{name: "relative", relative: true},
		{name: "dangling", dangling: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linkDir, volume := t.TempDir(), t.TempDir() // the target on "a mounted volume"
			target := filepath.Join(volume, "token.json")
			link := filepath.Join(linkDir, "token.json")
			to := target
			if tc.relative {
				var err error
				to, err = filepath.Rel(linkDir, target)
				require.NoError(t, err)
			}
			require.NoError(t, os.Symlink(to, link))
			if !tc.dangling {
				require.NoError(t, NewFileStore(target).Save(ctx, &oauth2.Token{AccessToken: "uc-at-old", RefreshToken: "uc-rt-old"}))
			}

			s := NewFileStore(link)
			unlock, err := s.Lock(ctx)
			require.NoError(t, err)
			require.NoError(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-new", RefreshToken: "uc-rt-new"}))

			// The lock is beside the target: a store on the target waits for it.
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err = NewFileStore(target).Lock(short)
			cancel()
			assert.ErrorIs(t, err, context.DeadlineExceeded, "the link's lock and the target's lock are one")
			unlock()

			fi, err := os.Lstat(link)
			require.NoError(t, err)
			assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link stays a link")
			got, err := NewFileStore(target).Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, "uc-rt-new", got.RefreshToken, "the target holds the rotated token")
			got, err = s.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, "uc-rt-new", got.RefreshToken)
			assert.Equal(t, []string{"token.json"}, psDirNames(t, linkDir), "nothing written beside the link")
			assert.ElementsMatch(t, []string{"token.json", "token.json.lock"}, psDirNames(t, volume))

			// Remove removes the token, not the link.
			require.NoError(t, s.Remove(ctx))
			assert.NoFileExists(t, target)
			_, err = os.Lstat(link)
			assert.NoError(t, err, "the link stays")
			_, err = s.Load(ctx)
			assert.ErrorIs(t, err, ErrNoToken)
		})
	}
	t.Run("dot-dot after a linked directory", func(t *testing.T) {
		// To the system, "d/.." in the link is the parent of where d leads,
		// not the link's own directory, as the text would have it.
		linkDir, volume := t.TempDir(), t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(volume, "sub"), 0o700))
		require.NoError(t, os.Symlink(filepath.Join(volume, "sub"), filepath.Join(linkDir, "d")))
		link := filepath.Join(linkDir, "token.json")
		require.NoError(t, os.Symlink(strings.Join([]string{"d", "..", "token.json"}, string(filepath.Separator)), link))
		// A crashed save's file, which a save in the target's directory removes.
		stale := filepath.Join(volume, ".token.json.tmp-111")
		require.NoError(t, os.WriteFile(stale, []byte("{"), 0o600))
		old := time.Now().Add(-2 * time.Minute)
		require.NoError(t, os.Chtimes(stale, old, old))

		s := NewFileStore(link)
		unlock, err := s.Lock(ctx)
		require.NoError(t, err)
		require.NoError(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-new"}))
		unlock()
		assert.NoFileExists(t, stale, "the save was not made in the target's directory")
		b, err := os.ReadFile(link) // the system's reading of the link
		require.NoError(t, err)
		assert.Contains(t, string(b), "uc-at-new")
		assert.ElementsMatch(t, []string{"sub", "token.json", "token.json.lock"}, psDirNames(t, volume))
		got, err := s.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, "uc-at-new", got.AccessToken)
	})
	t.Run("a loop", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "token.json")
		require.NoError(t, os.Symlink("other.json", path))
		require.NoError(t, os.Symlink("token.json", filepath.Join(dir, "other.json")))
		s := NewFileStore(path)
		_, err := s.Load(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ultracart: reading the token file "+path)
		assert.Error(t, s.Save(ctx, &oauth2.Token{AccessToken: "uc-at-SECRET"}))
		_, err = s.Lock(ctx)
		assert.Error(t, err)
	})
}

// TestFileStoreNilRemove (issue 17, point 9): every method of a nil or zero
// FileStore, Remove included, returns the error that says how to make one;
// none panics.
func TestFileStoreNilRemove(t *testing.T) {
	ctx := context.Background()
	for _, s := range []*FileStore{nil, new(FileStore), NewFileStore("")} {
		const want = "ultracart: the FileStore has no path; make it with NewFileStore"
		assert.NotPanics(t, func() { assert.EqualError(t, s.Remove(ctx), want) })
		_, err := s.Load(ctx)
		assert.EqualError(t, err, want)
		assert.EqualError(t, s.Save(ctx, &oauth2.Token{AccessToken: "a"}), want)
		_, err = s.Lock(ctx)
		assert.EqualError(t, err, want)
	}
}

func TestFileStoreRemove(t *testing.T) {
	t.Parallel()
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

// FuzzFileStoreLoad loads any file content, which may carry the fuzzed
// tokens. The invariants: no panic; a nil error comes with a token that has
// an access or a refresh token, and that token survives the JSON round trip
// Save makes; an error is never ErrNoToken (the file exists, even empty),
// names the path, starts with "ultracart: " and carries no token.
func FuzzFileStoreLoad(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"uc-at-1","token_type":"bearer","refresh_token":"uc-rt-1","expiry":"2030-01-02T03:04:05.123456789Z","expires_in":3600}`,
		`{"refresh_token":"uc-rt-1"}`,
		`{"access_token":"uc-at-1","expiry":"0001-01-01T00:00:00Z"}`,
		`{"access_token":"uc-at-1","expiry":"9999-12-31T23:59:59+14:00"}`,
		`{"access_token":"uc-at-1","expiry":"` + fzRefresh + `"}`,
		`{"access_token":5,"refresh_token":"` + fzRefresh + `"}`,
		`{"access_token":"uc-at-1","expires_in":"` + fzAccess + `"}`,
		`{"access_token":"` + fzAccess,
		`{"access_token":"` + fzAccess + `" "refresh_token":"` + fzRefresh + `"}`,
		`{}`, `null`, `[]`, `""`, ``, " \n", "\xef\xbb\xbf{\"access_token\":\"a\"}", "\xff",
		`{"access_token":"a"} trailing`,
		`{"access_token":"a","access_token":"","refresh_token":null}`,
		`{"access_token":"` + fzAccess + `","expires_in":1e400}`, `["` + fzAccess + `","` + fzRefresh + `"]`,
		`{"access_token":"` + fzAccess + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`,
	} {
		f.Add([]byte(s), uint16(0))
	}
	f.Add([]byte(`{"access_token":"","refresh_token":""}`), uint16(40))
	// One file per fuzzing process, rewritten for each input: the inputs of
	// one process run one at a time.
	path := filepath.Join(f.TempDir(), "token.json")
	f.Fuzz(func(t *testing.T, content []byte, splice uint16) {
		content = fzSplice(content, splice)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		tok, err := NewFileStore(path).Load(context.Background())
		if err == nil {
			if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
				t.Fatalf("Load(%q) = %#v, nil", content, tok)
			}
			b, err := json.Marshal(tok)
			if err != nil {
				t.Fatalf("Load(%q) gave a token Save cannot encode: %v", content, err)
			}
			var back oauth2.Token
			if err := json.Unmarshal(b, &back); err != nil || back.AccessToken != tok.AccessToken ||
				back.RefreshToken != tok.RefreshToken || back.TokenType != tok.TokenType ||
				back.ExpiresIn != tok.ExpiresIn || !back.Expiry.Equal(tok.Expiry) {
				t.Fatalf("the token of %q does not survive Save: %#v, %v", content, back, err)
			}
			return
		}
		if tok != nil {
			t.Fatalf("Load returned a token with %v", err)
		}
		if errors.Is(err, ErrNoToken) {
			t.Fatalf("Load(%q): ErrNoToken for an existing file: %v", content, err)
		}
		if !strings.Contains(err.Error(), path) || !strings.HasPrefix(err.Error(), "ultracart: ") {
			t.Fatalf("Load error %q does not name %s", err, path)
		}
		fzCheckNoSecret(t, err)
	})
}
