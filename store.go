package ultracart

// The stores' contract, and the store that keeps a token in memory.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/oauth2"
)

// TokenStore keeps one token between runs of a program, for instance the
// token of one merchant. Load returns an error matching [ErrNoToken] when the
// store holds no token. Implementations must be safe for concurrent use;
// their errors must not contain the token's secrets. [FileStore] and
// [MemoryStore] are TokenStores; [PersistentTokenSource] uses one.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, t *oauth2.Token) error
}

// Locker is implemented by stores that can serialize refreshes across the
// processes (or goroutines) that share them. Lock blocks until the caller
// holds the lock or ctx is done; the caller calls unlock once it is done.
// [PersistentTokenSource] holds the lock while it reloads the token, refreshes
// it when still needed and saves the new one. [FileStore] and [MemoryStore]
// are Lockers.
type Locker interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

// ErrNoToken is matched by the error of a [TokenStore] that holds no token,
// and so by the error of a [PersistentTokenSource] over it: the merchant has
// not authorized the application yet (or the store was emptied).
var ErrNoToken = errors.New("ultracart: no token stored; run the authorization flow first")

// MemoryStore is a [TokenStore] that keeps one token in memory, for tests and
// for programs that persist tokens by other means. It is also a [Locker], so
// that several sources of [PersistentTokenSource] that share it refresh the
// token once.
//
// The zero value is an empty MemoryStore, ready to use. A MemoryStore is safe
// for concurrent use by multiple goroutines, and must not be copied after
// first use.
type MemoryStore struct {
	mu   sync.Mutex
	tok  *oauth2.Token
	turn chan struct{} // holds a value while a caller of Lock has the lock; made on first use
}

// NewMemoryStore returns a [MemoryStore] that holds a copy of t; with a nil t
// it holds no token, and Load fails with an error matching [ErrNoToken].
func NewMemoryStore(t *oauth2.Token) *MemoryStore {
	return &MemoryStore{tok: copyToken(t)}
}

// Load returns a copy of the token, or an error matching [ErrNoToken] when
// the store holds none.
func (s *MemoryStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, &noTokenError{where: "the memory store"}
	}
	return copyToken(s.tok), nil
}

// Save replaces the token with a copy of t; a nil t is an error, and the
// token stays as it was.
func (s *MemoryStore) Save(ctx context.Context, t *oauth2.Token) error {
	if t == nil {
		return errors.New("ultracart: cannot save a nil token")
	}
	c := copyToken(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = c
	return nil
}

// Lock takes the store's lock, as [Locker] asks, waiting at most until ctx
// is done. The returned unlock releases it; calling it again does nothing.
func (s *MemoryStore) Lock(ctx context.Context) (unlock func(), err error) {
	s.mu.Lock()
	if s.turn == nil {
		s.turn = make(chan struct{}, 1)
	}
	turn := s.turn
	s.mu.Unlock()
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ultracart: locking the memory store: %w", ctx.Err())
	}
	var once sync.Once
	return func() { once.Do(func() { <-turn }) }, nil
}

// copyToken returns a shallow copy of t, extra fields included.
func copyToken(t *oauth2.Token) *oauth2.Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// noTokenError is [ErrNoToken] with the place the token was looked for.
type noTokenError struct{ where string }

func (e *noTokenError) Error() string {
	return "ultracart: no token stored in " + e.where + "; run the authorization flow first"
}

func (e *noTokenError) Is(target error) bool { return target == ErrNoToken }
