module github.com/ultracart-go/ultracart

go 1.26.0

toolchain go1.26.8

require (
	github.com/gofrs/flock v0.13.0
	github.com/stretchr/testify v1.11.1
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	golang.org/x/sys v0.44.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
