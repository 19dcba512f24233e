module github.com/ultracart-go/ultracart/pgstore

go 1.26.8

require (
	github.com/jackc/pgx/v5 v5.13.0
	github.com/stretchr/testify v1.11.1
	github.com/ultracart-go/ultracart v0.0.0-00010101000000-000000000000
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

// Within this repository, pgstore builds against the core module of the same
// commit. A replace directive only applies where pgstore is the main module
// (its own tests and tools), so users of pgstore get the required version.
replace github.com/ultracart-go/ultracart => ../
