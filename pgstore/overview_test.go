package pgstore_test

import (
	"context"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/pgstore"
)

// newMerchants runs once, at start-up, in every replica.
func newMerchants(ctx context.Context, conf *oauth2.Config) (*ultracart.Merchants, error) {
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return nil, err
	}
	store := pgstore.New(pool, pgstore.Options{})
	if err := store.Migrate(ctx); err != nil { // or create the table yourself, see below
		return nil, err
	}
	return ultracart.NewMerchants(ctx, conf, store.For), nil
}

// The overview's function is compiled here and, as an unused function,
// referred to once.
var _ = newMerchants

// TestOverviewCodeIsCompiled keeps the Go code of the package overview
// (doc.go) the same as newMerchants above, which the compiler checks, so
// that the overview cannot drift from the API.
func TestOverviewCodeIsCompiled(t *testing.T) {
	fset := token.NewFileSet()
	doc, err := parser.ParseFile(fset, "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	var block []string
	for _, line := range strings.Split(doc.Doc.Text(), "\n") {
		if strings.HasPrefix(line, "\t") {
			block = append(block, strings.TrimPrefix(line, "\t"))
		} else if len(block) > 0 {
			break // the first code block only: the next is SQL
		}
	}
	require.NotEmpty(t, block, "doc.go's overview has a code block")

	src, err := os.ReadFile("overview_test.go")
	require.NoError(t, err)
	text := string(src)
	start := strings.Index(text, "// newMerchants runs once")
	end := strings.Index(text[start:], "\n}\n")
	require.True(t, start >= 0 && end >= 0)
	assert.Equal(t, text[start:start+end+2], strings.Join(block, "\n"),
		"doc.go's code block must be newMerchants, as written in overview_test.go")
}
