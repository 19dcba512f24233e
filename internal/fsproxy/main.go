// Command fsproxy publishes modules of a Git repository, as they are at one
// commit, to a file-system module proxy (GOPROXY=file://DIR): the files a
// proxy serves once the commit is tagged, DIR/PATH/@v/VERSION.info, .mod and
// .zip, and the version added to DIR/PATH/@v/list. The zip is made as the go
// command makes it from a tag, so it holds what a user of that version gets.
//
//	fsproxy -repo CLONE -rev COMMIT -version v0.1.0 -proxy DIR . pgstore
//
// Each argument is a module's directory in the repository. CLONE must be a
// clone's root, not a worktree made with git worktree add: x/mod/zip reads
// only repositories whose .git is a directory.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("fsproxy: ")
	repo := flag.String("repo", "", "root of a Git clone")
	rev := flag.String("rev", "HEAD", "the commit to publish")
	version := flag.String("version", "", "the version to publish it as, such as v0.1.0")
	proxy := flag.String("proxy", "", "the proxy's directory")
	flag.Parse()
	if *repo == "" || *version == "" || *proxy == "" || flag.NArg() == 0 {
		log.Fatal("usage: fsproxy -repo CLONE [-rev COMMIT] -version VERSION -proxy DIR MODULEDIR...")
	}
	for _, dir := range flag.Args() {
		if err := publish(*repo, *rev, path.Clean(dir), *version, *proxy); err != nil {
			log.Fatal(err)
		}
	}
}

// publish writes the module in dir of repo at rev to proxy as version.
func publish(repo, rev, dir, version, proxy string) error {
	subdir := strings.TrimPrefix(dir, ".") // x/mod/zip names the root ""
	gomod, err := git(repo, "show", rev+":"+path.Join(subdir, "go.mod"))
	if err != nil {
		return err
	}
	m := module.Version{Path: modfile.ModulePath(gomod), Version: version}
	if err := module.Check(m.Path, m.Version); err != nil {
		return err
	}
	date, err := git(repo, "show", "-s", "--format=%cI", rev)
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(date)))
	if err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, t.UTC()})
	if err != nil {
		return err
	}

	escaped, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	at := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	base := filepath.Join(at, version)
	z, err := os.Create(base + ".zip")
	if err != nil {
		return err
	}
	err = zip.CreateFromVCS(z, m, repo, rev, subdir)
	if cerr := z.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".mod", gomod, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".info", info, 0o644); err != nil {
		return err
	}
	list, err := os.OpenFile(filepath.Join(at, "list"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(list, version)
	if cerr := list.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		fmt.Printf("published %s@%s\n", m.Path, m.Version)
	}
	return err
}

// git runs git in repo and returns its output.
func git(repo string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return nil, err
	}
	return out, nil
}
