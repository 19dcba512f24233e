package ultracart_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ultracart-go/ultracart"
	"golang.org/x/oauth2"
)

// idleSources is how many sources one measurement of BenchmarkIdleSource
// keeps alive: enough for the heap's noise to vanish in the average.
const idleSources = 1000

// BenchmarkIdleSource measures what an idle merchant costs: the live heap
// bytes one source holds after its first Token call (reported as
// B/source), for PersistentTokenSource over a FileStore (impl=persistent)
// beside conf.TokenSource (impl=xoauth2, the baseline) holding the same
// token. Each op builds idleSources sources; ns/op is their build time.
func BenchmarkIdleSource(b *testing.B) {
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "bench-client", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/rest/v2/oauth/token"}}
	expiry := time.Now().Add(24 * time.Hour)
	at := func(i int) string { return fmt.Sprintf("3f6e1b0c9d8a47e2b5c4a1f0e9d8%04d", i) }
	rt := func(i int) string { return fmt.Sprintf("8c7b6a5f4e3d2c1b0a9f8e7d6c5b%04d", i) }

	dir := b.TempDir()
	paths := make([]string, idleSources)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("merchant-%04d.json", i))
		tok := &oauth2.Token{AccessToken: at(i), TokenType: "Bearer", RefreshToken: rt(i), Expiry: expiry}
		if err := ultracart.NewFileStore(paths[i]).Save(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}

	impls := []struct {
		name string
		new  func(i int) oauth2.TokenSource
	}{
		{"persistent", func(i int) oauth2.TokenSource {
			return ultracart.PersistentTokenSource(ctx, conf, ultracart.NewFileStore(paths[i]))
		}},
		{"xoauth2", func(i int) oauth2.TokenSource {
			// The token as a caller would hold it after reading it: its
			// own strings.
			return conf.TokenSource(ctx, &oauth2.Token{AccessToken: at(i), TokenType: "Bearer", RefreshToken: rt(i), Expiry: expiry})
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			srcs := make([]oauth2.TokenSource, idleSources)
			var total float64
			for b.Loop() {
				clear(srcs)
				before := liveHeap()
				for i := range srcs {
					srcs[i] = impl.new(i)
					if _, err := srcs[i].Token(); err != nil {
						b.Fatal(err)
					}
				}
				total += float64(liveHeap()-before) / idleSources
			}
			runtime.KeepAlive(srcs)
			b.ReportMetric(total/float64(b.N), "B/source")
		})
	}
}

// liveHeap returns the bytes of the live heap, after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
