//go:build !linux

package pgstore

import "errors"

// startPostgres starts a throwaway server on Linux only; elsewhere set
// ULTRACART_PG_URL.
func startPostgres() (string, func(), error) {
	return "", nil, errors.New("the tests start a server on Linux only")
}
