module github.com/ultracart-go/ultracart/pgstore

go 1.26.0

toolchain go1.26.8

require (
	github.com/jackc/pgx/v5 v5.13.0
	github.com/stretchr/testify v1.11.1
	github.com/ultracart-go/ultracart v0.1.0
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/gofrs/flock v0.13.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.44.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

// In this repository, pgstore builds against the core of the same commit,
// whatever version the require above names. The replace applies only where
// pgstore is the main module (its own tests, in a clone): a user's build
// ignores it and gets the core at the required version, which must therefore
// be a published one (CONTRIBUTING.md, "Releasing").
replace github.com/ultracart-go/ultracart => ../
