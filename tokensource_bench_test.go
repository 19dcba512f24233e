package ultracart

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// BenchmarkTokenSource compares the hot path of PersistentTokenSource (a
// valid cached token) with oauth2.ReuseTokenSource, serially and in
// parallel. Compare with benchstat, e.g. `benchstat -col /impl bench.txt`.
func BenchmarkTokenSource(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: time.Now().Add(24 * time.Hour)}
	impls := []struct {
		name string
		new  func(b *testing.B) oauth2.TokenSource
	}{
		{"persistent", func(b *testing.B) oauth2.TokenSource {
			conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
			src := PersistentTokenSource(context.Background(), conf, NewMemoryStore(tok))
			if _, err := src.Token(); err != nil { // the first call loads the token
				b.Fatal(err)
			}
			return src
		}},
		{"reuse", func(b *testing.B) oauth2.TokenSource {
			return oauth2.ReuseTokenSource(tok, oauth2.StaticTokenSource(tok))
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.Run("run=serial", func(b *testing.B) {
				src := impl.new(b)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := src.Token(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("run=parallel", func(b *testing.B) {
				src := impl.new(b)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := src.Token(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
