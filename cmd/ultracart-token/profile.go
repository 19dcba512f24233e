package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// clientSettings is what login remembers once for every profile: which
// application and endpoint the tokens belong to, so that token, status,
// revoke and the login of another merchant need no flags. It never holds
// the client secret.
type clientSettings struct {
	ClientID string `json:"client_id"`
	Endpoint string `json:"endpoint,omitempty"` // empty: UltraCart's
}

// clientFile is where login remembers the client beside a token file:
// token.json → token.client.json. The default token file's serves every
// merchant profile; a --token-file has its own.
func clientFile(tokenFile string) string {
	return strings.TrimSuffix(tokenFile, ".json") + ".client.json"
}

// loadClientFile reads what login remembered in the file at path; nothing
// remembered is the zero value.
func loadClientFile(path string) (clientSettings, error) {
	var c clientSettings
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return c, nil // login says whether the directory can be written
	}
	if err != nil {
		return c, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s is corrupt; remove it and log in again with --client-id", path)
	}
	return c, nil
}

// saveClientFile remembers the client in the file at path, atomically (a
// temporary file renamed over it), with mode 0600.
func saveClientFile(path string, c clientSettings) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return nil
}

// removeClientFile forgets the client remembered in the file at path.
func removeClientFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// checkWritable finds out before a login whether the token file can be
// written, so that no approval is lost to a save that cannot succeed.
func checkWritable(tokenFile string) error {
	if fi, err := os.Stat(tokenFile); err == nil && fi.IsDir() {
		return fmt.Errorf("cannot write the token file %s: it is a directory; pass another --token-file", tokenFile)
	}
	dir := filepath.Dir(tokenFile)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		var f *os.File
		f, err = os.CreateTemp(dir, "."+filepath.Base(tokenFile)+".check-*")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("cannot write the token file %s (%w); pass another --token-file", tokenFile, err)
	}
	return nil
}

// merchants lists the merchant profiles that have a token file.
func merchants() []string {
	dir, err := configDir()
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, "merchants"))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && e.Type().IsRegular() && merchantName.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
