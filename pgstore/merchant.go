package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
)

// merchantStore is the TokenStore and Locker of one merchant.
type merchantStore struct {
	s        *Store
	merchant string

	mu   sync.Mutex // guards held
	held *held      // the lock, while held
}

// held is a lock: the version of the row that a save under it must find
// (0: no row).
type held struct {
	version int64
}

// tokenJSON is the JSON of a token, as ultracart.FileStore writes it: an
// oauth2.Token with the granted scope beside its fields.
type tokenJSON struct {
	oauth2.Token
	Scope string `json:"scope,omitempty"`
}

func (m *merchantStore) what(op string) string {
	return fmt.Sprintf("%s the token of merchant %q", op, m.merchant)
}

// Load reads the merchant's token: an error matching ultracart.ErrNoToken
// when the table has no row for the merchant.
func (m *merchantStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if err := m.s.check(m.merchant); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var plain, sealed []byte
	var version int64
	err := m.s.pool.QueryRow(ctx, `SELECT token, sealed, version FROM `+m.s.quoted+` WHERE merchant = $1`, m.merchant).Scan(&plain, &sealed, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		if m.held != nil {
			m.held.version = 0
		}
		return nil, &noTokenError{merchant: m.merchant, table: m.s.table}
	}
	if err != nil {
		return nil, dbError(m.what("loading"), err)
	}
	if m.held != nil {
		m.held.version = version
	}
	return m.decode(plain, sealed)
}

// decode turns a row's columns into a token.
func (m *merchantStore) decode(plain, sealed []byte) (*oauth2.Token, error) {
	switch {
	case sealed != nil && len(m.s.seal) == 0:
		return nil, fmt.Errorf("ultracart: pgstore: the token of merchant %q is sealed, and the store has no key (Options.Seal) to open it", m.merchant)
	case sealed != nil:
		var err error
		if plain, err = m.s.open(m.merchant, sealed); err != nil {
			return nil, err
		}
	case len(m.s.seal) > 0:
		return nil, fmt.Errorf("ultracart: pgstore: the token of merchant %q is not sealed, and the store seals tokens; save it again through the store", m.merchant)
	}
	var tj tokenJSON
	if err := json.Unmarshal(plain, &tj); err != nil {
		// Decoding errors may quote a value: leave them out.
		return nil, fmt.Errorf("ultracart: pgstore: the token of merchant %q is corrupt: it does not hold an oauth2.Token", m.merchant)
	}
	tok := &tj.Token
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, fmt.Errorf("ultracart: pgstore: the token of merchant %q is corrupt: it holds neither an access token nor a refresh token", m.merchant)
	}
	if tj.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": tj.Scope})
	}
	return tok, nil
}

// Save writes t as the merchant's token. Under the lock it writes only when
// the row still has the version last read, else it fails with an error
// matching ErrConflict and leaves the row as it is.
func (m *merchantStore) Save(ctx context.Context, t *oauth2.Token) error {
	if err := m.s.check(m.merchant); err != nil {
		return err
	}
	if t == nil {
		return errors.New("ultracart: pgstore: cannot save a nil token")
	}
	tj := tokenJSON{Token: *t}
	if scope, ok := t.Extra("scope").(string); ok {
		tj.Scope = scope
	}
	plain, err := json.Marshal(tj)
	if err != nil {
		return fmt.Errorf("ultracart: pgstore: saving the token of merchant %q: encoding failed", m.merchant)
	}
	var sealed []byte
	if len(m.s.seal) > 0 {
		if sealed, err = m.s.sealToken(m.merchant, plain); err != nil {
			return err
		}
		plain = nil
	}
	// json, not bytea: a nil []byte is NULL either way.
	var token any
	if plain != nil {
		token = string(plain)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held == nil {
		_, err := m.s.pool.Exec(ctx, `INSERT INTO `+m.s.quoted+` AS t (merchant, token, sealed, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (merchant) DO UPDATE SET token = EXCLUDED.token, sealed = EXCLUDED.sealed, version = t.version + 1, updated_at = now()`,
			m.merchant, token, sealed)
		if err != nil {
			return dbError(m.what("saving"), err)
		}
		return nil
	}
	h := m.held
	var version int64
	if h.version == 0 {
		err = m.s.pool.QueryRow(ctx, `INSERT INTO `+m.s.quoted+` (merchant, token, sealed, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (merchant) DO NOTHING RETURNING version`, m.merchant, token, sealed).Scan(&version)
	} else {
		err = m.s.pool.QueryRow(ctx, `UPDATE `+m.s.quoted+` SET token = $2, sealed = $3, version = version + 1, updated_at = now()
WHERE merchant = $1 AND version = $4 RETURNING version`, m.merchant, token, sealed, h.version).Scan(&version)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("ultracart: pgstore: saving the token of merchant %q: %w", m.merchant, ErrConflict)
	}
	if err != nil {
		return dbError(m.what("saving"), err)
	}
	h.version = version
	return nil
}

// Lock takes the merchant's lock, waiting until ctx is done, and reads the
// version of the row once it holds it. See the package doc.
func (m *merchantStore) Lock(ctx context.Context) (unlock func(), err error) {
	if err := m.s.check(m.merchant); err != nil {
		return nil, err
	}
	ident, err := m.s.identity(ctx)
	if err != nil {
		return nil, dbError(m.what("locking"), err)
	}
	release, err := m.s.lock(ctx, lockKey("merchant", ident, m.merchant))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("ultracart: pgstore: locking the token of merchant %q: %w", m.merchant, err)
	case err != nil:
		return nil, dbError(m.what("locking"), err)
	}
	// The version is read once the lock is held: a save without a Load
	// under the lock is conditional too.
	h := &held{}
	err = m.s.pool.QueryRow(ctx, `SELECT version FROM `+m.s.quoted+` WHERE merchant = $1`, m.merchant).Scan(&h.version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		release()
		return nil, dbError(m.what("locking"), err)
	}
	m.mu.Lock()
	m.held = h
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.held = nil
			m.mu.Unlock()
			release()
		})
	}, nil
}

// noTokenError is ultracart.ErrNoToken with the merchant and table.
type noTokenError struct{ merchant, table string }

func (e *noTokenError) Error() string {
	return fmt.Sprintf("ultracart: pgstore: no token stored for merchant %q in table %s; run the authorization flow first", e.merchant, e.table)
}

func (e *noTokenError) Is(target error) bool { return target == ultracart.ErrNoToken }
