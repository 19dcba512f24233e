package ultracart

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// BenchmarkMerchants measures the hot path of Merchants: the lookup of a
// live merchant and its cached, valid token, among 1,000 merchants, serially
// and in parallel. Client is the lookup alone; Token is the lookup plus the
// token, which is what each request of the client costs.
func BenchmarkMerchants(b *testing.B) {
	const n = 1000
	exp := time.Now().Add(24 * time.Hour)
	stores := make(map[string]TokenStore, n)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("merchant-%04d", i)
		stores[names[i]] = NewMemoryStore(&oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: exp})
	}
	conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
	m := NewMerchants(context.Background(), conf, func(merchant string) TokenStore { return stores[merchant] })
	for _, name := range names {
		if _, err := m.TokenSource(name).Token(); err != nil { // the first call loads the token
			b.Fatal(err)
		}
	}
	ops := []struct {
		name string
		op   func(merchant string) error
	}{
		{"Client", func(merchant string) error {
			if m.Client(merchant) == nil {
				return fmt.Errorf("no client")
			}
			return nil
		}},
		{"ClientToken", func(merchant string) error {
			// What a request through Client(merchant) costs before it is
			// sent: the lookup, then the token read of NewClient's transport.
			_, err := m.Client(merchant).Transport.(*bearerTransport).token()
			return err
		}},
		{"Token", func(merchant string) error {
			_, err := m.TokenSource(merchant).Token()
			return err
		}},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			b.Run("run=serial", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := op.op(names[i%n]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("run=parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if err := op.op(names[i%n]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		})
	}
}
