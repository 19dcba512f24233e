// The release rehearsal's tool, a module of its own so that golang.org/x/mod
// stays out of the requirements of the core's users.
module github.com/ultracart-go/ultracart/internal/fsproxy

go 1.26.0

require golang.org/x/mod v0.43.0
