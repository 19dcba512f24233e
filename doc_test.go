package ultracart_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snippetImports are the packages a doc-comment snippet may use by their
// name without importing them; the check adds the import. A snippet that
// uses any other package fails the check until it is added here.
var snippetImports = map[string]string{
	"ultracart":     "github.com/ultracart-go/ultracart",
	"ultracarttest": "github.com/ultracart-go/ultracart/ultracarttest",
	"oauth2":        "golang.org/x/oauth2",
	"context":       "context",
	"errors":        "errors",
	"fmt":           "fmt",
	"http":          "net/http",
	"httptest":      "net/http/httptest",
	"io":            "io",
	"json":          "encoding/json",
	"log":           "log",
	"os":            "os",
	"strings":       "strings",
	"testing":       "testing",
	"time":          "time",
	"url":           "net/url",
}

// snippetPackages are the library packages whose doc comments are checked,
// as directories of this module. Commands are left out: their doc comments
// show shell sessions.
var snippetPackages = []string{".", "ultracarttest"}

// snippet is the Go code of README.md's ```go block, or of the code blocks
// of one doc comment, which may build on each other.
type snippet struct {
	file  string // path in the repository, for messages
	pkg   string // the documented package's import path; "" for the README
	parts []part
}

type part struct {
	line int // line of the block's first line in the file
	code string
}

var fence = regexp.MustCompile("(?ms)^```go\n(.*?)^```\n")

// readmeSnippets returns the ```go blocks of README.md. They must be whole
// programs, so that a reader can paste and run them.
func readmeSnippets(t *testing.T) []snippet {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var out []snippet
	for _, m := range fence.FindAllSubmatchIndex(b, -1) {
		out = append(out, snippet{file: "README.md", parts: []part{{
			line: bytes.Count(b[:m[2]], []byte("\n")) + 1,
			code: string(b[m[2]:m[3]]),
		}}})
	}
	return out
}

// docSnippets returns the code blocks of the doc comments (package,
// declarations, fields) of the non-test files in dir.
func docSnippets(t *testing.T, dir string) []snippet {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	importPath := "github.com/ultracart-go/ultracart"
	if dir != "." {
		importPath += "/" + filepath.ToSlash(dir)
	}
	var out []snippet
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		var docs []*ast.CommentGroup
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.File:
				docs = append(docs, n.Doc)
			case *ast.GenDecl:
				docs = append(docs, n.Doc)
			case *ast.FuncDecl:
				docs = append(docs, n.Doc)
				return false
			case *ast.TypeSpec:
				docs = append(docs, n.Doc)
			case *ast.ValueSpec:
				docs = append(docs, n.Doc)
			case *ast.Field:
				docs = append(docs, n.Doc)
			}
			return true
		})
		for _, cg := range docs {
			if cg == nil {
				continue
			}
			if s := codeBlocks(fset, name, importPath, cg); len(s.parts) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// codeBlocks returns the code blocks of one doc comment, each with the line
// it starts on.
func codeBlocks(fset *token.FileSet, name, importPath string, cg *ast.CommentGroup) snippet {
	var p comment.Parser
	out := snippet{file: filepath.ToSlash(name), pkg: importPath}
	for _, block := range p.Parse(cg.Text()).Content {
		code, ok := block.(*comment.Code)
		if !ok {
			continue
		}
		first := strings.SplitN(code.Text, "\n", 2)[0]
		line := fset.Position(cg.Pos()).Line
		for _, c := range cg.List {
			if strings.Contains(c.Text, first) {
				line = fset.Position(c.Pos()).Line
				break
			}
		}
		if notGo(code.Text) {
			continue
		}
		out.parts = append(out.parts, part{line: line, code: code.Text})
	}
	return out
}

var httpMessage = regexp.MustCompile(`^(HTTP/\d|(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /)`)

// notGo reports whether a doc-comment code block is, plainly, not Go: a
// JSON document, or an HTTP request or response. Any other block must be Go.
func notGo(code string) bool {
	return json.Valid([]byte(code)) || httpMessage.MatchString(code)
}

// program turns a snippet into a Go file. A README block is used as it is.
// Each block of a doc comment is either declarations or statements, which
// are put in a function of their own (a lone expression, such as a
// comparison stating a fact, is assigned to _); the imports the blocks need
// are added from snippetImports, and the documented package is dot-imported
// when they use its names unqualified. //line directives make errors point
// at the blocks in their own file.
func program(s snippet) (string, error) {
	if s.pkg == "" {
		p := s.parts[0]
		if !strings.HasPrefix(p.code, "package ") {
			return "", fmt.Errorf("%s:%d: a README Go block must be a whole program, starting with package", s.file, p.line)
		}
		src := fmt.Sprintf("//line %s:%d\n%s", s.file, p.line, p.code)
		// go vet, which checks the snippets, does not link: look for main here.
		f, err := parser.ParseFile(token.NewFileSet(), "", src, 0)
		if err == nil && (f.Name.Name != "main" || !slices.ContainsFunc(f.Decls, func(d ast.Decl) bool {
			fn, ok := d.(*ast.FuncDecl)
			return ok && fn.Recv == nil && fn.Name.Name == "main"
		})) {
			return "", fmt.Errorf("%s:%d: a README Go block must be a program with func main", s.file, p.line)
		}
		return src, nil
	}

	var src strings.Builder
	for _, p := range s.parts {
		body := fmt.Sprintf("//line %s:%d\n%s", s.file, p.line, p.code)
		if _, err := parser.ParseFile(token.NewFileSet(), "", "package snippet\n"+body, 0); err == nil {
			src.WriteString(body + "\n")
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), "", "package snippet\nfunc _() {\n"+body+"\n}\n", 0)
		if err != nil {
			return "", fmt.Errorf("%s:%d: neither declarations nor statements: %v", s.file, p.line, err)
		}
		if list := f.Decls[0].(*ast.FuncDecl).Body.List; len(list) == 1 {
			if _, ok := list[0].(*ast.ExprStmt); ok {
				body = "_ =\n" + body
			}
		}
		src.WriteString("func _() {\n" + body + "\n}\n")
	}

	f, err := parser.ParseFile(token.NewFileSet(), "", "package snippet\n"+src.String(), 0)
	if err != nil {
		return "", fmt.Errorf("%s:%d: %v", s.file, s.parts[0].line, err)
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil {
				used[id.Name] = true
			}
		}
		return true
	})
	var imports []string
	for name := range used {
		if path, ok := snippetImports[name]; ok {
			imports = append(imports, fmt.Sprintf("%s %q", name, path))
		}
	}
	for _, id := range f.Unresolved {
		if !used[id.Name] && types.Universe.Lookup(id.Name) == nil {
			imports = append(imports, fmt.Sprintf(". %q", s.pkg))
			break
		}
	}
	sort.Strings(imports)
	header := "package snippet\n"
	if len(imports) > 0 {
		header += "import (\n" + strings.Join(imports, "\n") + "\n)\n"
	}
	return header + src.String(), nil
}

// TestSnippetsCompile type-checks and vets every Go block of README.md and every
// code block in the doc comments of the library packages, so that no
// snippet a user may paste drifts from the code.
func TestSnippetsCompile(t *testing.T) {
	t.Parallel() // it waits more than it computes: overlap it with the other slow tests
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the snippets")
	root, err := filepath.Abs(".")
	require.NoError(t, err)

	snippets := readmeSnippets(t)
	require.NotEmpty(t, snippets, "README.md has no ```go block")
	for _, dir := range snippetPackages {
		snippets = append(snippets, docSnippets(t, dir)...)
	}

	// .ci/run sets ULTRACART_SNIPPETS_DIR to keep the module of snippets for
	// staticcheck.
	tmp := os.Getenv("ULTRACART_SNIPPETS_DIR")
	if tmp == "" {
		tmp = t.TempDir()
	} else {
		require.NoError(t, os.Mkdir(tmp, 0o700), "ULTRACART_SNIPPETS_DIR must name a directory that does not exist yet")
	}
	// The snippets' module has the core's go line, so that any toolchain
	// the core accepts builds them.
	coreMod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go .*$`).Find(coreMod)
	require.NotNil(t, goLine, "go.mod has no go line")
	gomod := "module snippets\n\n" + string(goLine) + "\n\n" +
		"require github.com/ultracart-go/ultracart v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/ultracart-go/ultracart => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o600))
	sum, err := os.ReadFile("go.sum")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o600))
	for i, s := range snippets {
		src, err := program(s)
		if !assert.NoError(t, err) {
			continue
		}
		dir := filepath.Join(tmp, fmt.Sprintf("s%02d", i))
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "snippet.go"), []byte(src), 0o600))
	}

	// go vet type-checks every snippet as the compiler would, without the
	// link of a build (program checks that a README block has a main).
	cmd := exec.Command(goTool, "vet", "./...")
	cmd.Dir = tmp
	// Offline: the modules are those the tests of this module already need.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "go vet of the snippets:\n%s", out)
}

func TestSnippetNotGo(t *testing.T) {
	for code, want := range map[string]bool{
		"{\"error\": \"invalid_grant\", \"error_description\": \"…\"}\n":                        true,
		"POST /rest/v2/oauth/token HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n": true,
		"HTTP/1.1 400 Bad Request\nUC-REST-ERROR: …\n":                                          true,
		"tok, err := conf.Exchange(ctx, code)\n":                                                false,
		"{\n\tfmt.Println(1)\n}\n":                                                              false,
		"GET := 1\n":                                                                            false,
	} {
		assert.Equal(t, want, notGo(code), "%q", code)
	}
}

func TestSnippetProgram(t *testing.T) {
	const pkg = "github.com/ultracart-go/ultracart"
	for _, tc := range []struct {
		name   string
		s      snippet
		want   []string // substrings of the program
		unwant []string
		err    string
	}{{
		name: "declarations stay at the top level",
		s:    snippet{file: "doc.go", pkg: pkg, parts: []part{{line: 3, code: "var conf = &ultracart.Config{}\n"}}},
		want: []string{"import (\nultracart \"" + pkg + "\"\n)", "//line doc.go:3\nvar conf"},
	}, {
		name:   "statements go into a function",
		s:      snippet{file: "doc.go", pkg: pkg, parts: []part{{line: 7, code: "tok, err := conf.Exchange(ctx, code)\n"}}},
		want:   []string{"func _() {\n//line doc.go:7\ntok, err :="},
		unwant: []string{"_ =\n"},
	}, {
		name: "a lone expression is assigned to _",
		s:    snippet{file: "endpoint.go", pkg: pkg, parts: []part{{line: 32, code: "EndpointAt(\"http://h/rest/v2\").TokenURL == \"http://h/rest/v2/oauth/token\"\n"}}},
		want: []string{"_ =\n//line endpoint.go:32\nEndpointAt(", ". \"" + pkg + "\""},
	}, {
		name:   "qualified names need no dot import",
		s:      snippet{file: "doc.go", pkg: pkg, parts: []part{{line: 1, code: "fmt.Println(ultracart.NewState())\n"}}},
		want:   []string{"fmt \"fmt\"", "ultracart \"" + pkg + "\""},
		unwant: []string{". \""},
	}, {
		name: "a README block must be a whole program",
		s:    snippet{file: "README.md", parts: []part{{line: 40, code: "tok, err := conf.Exchange(ctx, code)\n"}}},
		err:  "README.md:40: a README Go block must be a whole program",
	}, {
		name: "a README program needs a main",
		s:    snippet{file: "README.md", parts: []part{{line: 50, code: "package main\n\nfunc helper() {}\n"}}},
		err:  "README.md:50: a README Go block must be a program with func main",
	}, {
		name: "text that is not Go is an error",
		s:    snippet{file: "doc.go", pkg: pkg, parts: []part{{line: 9, code: "curl -H 'Authorization: Bearer x' https://h/\n"}}},
		err:  "doc.go:9: neither declarations nor statements",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := program(tc.s)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			for _, w := range tc.unwant {
				assert.NotContains(t, got, w)
			}
		})
	}
}

// TestREADMELinks checks that the README's relative links name files of the
// repository, and that a link named for an example leads to the file that
// holds it. From a module zip (go test of the core from the module cache,
// as go test all in a user's module may run it), the module's directory
// holds only its own files, not those of the repository's other modules
// such as pgstore: there, a link to a file it lacks is left to the check in
// a clone. A module from a zip has a checksum; a clone's has none.
func TestREADMELinks(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	require.True(t, ok)
	fromZip := info.Main.Sum != ""
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	links := regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`).FindAllStringSubmatch(string(b), -1)
	require.NotEmpty(t, links)
	for _, l := range links {
		text, target := l[1], l[2]
		if strings.Contains(target, "://") {
			continue
		}
		src, err := os.ReadFile(filepath.FromSlash(target))
		if errors.Is(err, fs.ErrNotExist) && fromZip {
			continue
		}
		if !assert.NoError(t, err, "README links %q to a missing file", text) {
			continue
		}
		if strings.HasPrefix(text, "Example") {
			assert.Contains(t, string(src), "func "+text+"()", "README links %s to %s, which does not hold it", text, target)
		}
	}
}
