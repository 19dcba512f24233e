package ultracart

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// BenchmarkTokenSource compares the hot path of PersistentTokenSource (a
// valid cached token) with oauth2.ReuseTokenSource, serially and in
// parallel: impl=newclient is the token read of NewClient's transport,
// which allocates nothing; impl=token is the source's Token method, which
// hands each caller a copy; impl=reuse is oauth2.ReuseTokenSource. Compare
// with benchstat, e.g. `benchstat -col /impl bench.txt`.
func BenchmarkTokenSource(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: time.Now().Add(24 * time.Hour)}
	persistent := func(b *testing.B) oauth2.TokenSource {
		conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
		src := PersistentTokenSource(context.Background(), conf, NewMemoryStore(tok))
		if _, err := src.Token(); err != nil { // the first call loads the token
			b.Fatal(err)
		}
		return src
	}
	impls := []struct {
		name string
		new  func(b *testing.B) func() (*oauth2.Token, error)
	}{
		{"newclient", func(b *testing.B) func() (*oauth2.Token, error) {
			return NewClient(context.Background(), persistent(b)).Transport.(*bearerTransport).token
		}},
		{"token", func(b *testing.B) func() (*oauth2.Token, error) {
			return persistent(b).Token
		}},
		{"reuse", func(b *testing.B) func() (*oauth2.Token, error) {
			return oauth2.ReuseTokenSource(tok, oauth2.StaticTokenSource(tok)).Token
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.Run("run=serial", func(b *testing.B) {
				get := impl.new(b)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := get(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("run=parallel", func(b *testing.B) {
				get := impl.new(b)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := get(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
