package pgstore_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/ultracart-go/ultracart"
	"github.com/ultracart-go/ultracart/pgstore"
)

// Example keeps every merchant's token in PostgreSQL, sealed at rest, and
// calls the REST API for one merchant. Every replica of the application
// runs the same code: they share the table, and the store's lock makes one
// refresh per merchant per expiry between them. It needs a database, so
// the test compiles it without running it.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	key, err := hex.DecodeString(os.Getenv("TOKEN_KEY")) // 32 bytes, from a secret manager
	if err != nil {
		log.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		log.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		log.Fatal(err)
	}
	store := pgstore.New(pool, pgstore.Options{Seal: []cipher.AEAD{aead}})
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	conf := &ultracart.Config{Config: oauth2.Config{ClientID: os.Getenv("ULTRACART_CLIENT_ID")}}
	merchants := ultracart.NewMerchants(ctx, &conf.Config, store.For)

	// The authorization callback saves a merchant's first token:
	//	tok, err := conf.Exchange(r.Context(), code)
	//	err = store.For(merchant).Save(r.Context(), tok)

	resp, err := merchants.Client("DEMO").Get("https://secure.ultracart.com/rest/v2/item/items")
	switch {
	case errors.Is(err, ultracart.ErrNoToken):
		log.Print("DEMO has not authorized the application yet")
		return
	case errors.Is(err, ultracart.ErrInvalidGrant):
		log.Print("DEMO must authorize the application again")
		_ = store.Delete(ctx, "DEMO")
		return
	case err != nil:
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if err := ultracart.CheckResponse(resp); err != nil {
		log.Fatal(err)
	}
}
