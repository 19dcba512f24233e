package ultracart

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/oauth2"
)

// BenchmarkRefresh measures one refresh-token grant, for each token body
// of the token-call benchmarks (bench_exchange_test.go): plain
// golang.org/x/oauth2 (impl=xoauth2, the baseline) beside the call that
// PersistentTokenSource makes for each refresh (impl=ultracart), and, for
// the record, a whole Config.TokenSource made and asked once
// (impl=configsource: the source, its store and its cache too). Compare
// with `benchstat -col /impl`.
func BenchmarkRefresh(b *testing.B) {
	bodies := []struct{ name, body string }{
		{"rfc", `{"access_token":"3f6e1b0c9d8a47e2b5c4a1f0e9d8c7b6","token_type":"Bearer","refresh_token":"8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39","expires_in":7200,"scope":"item_read order_read"}`},
		{"ultracart", `{"access_token":"3f6e1b0c9d8a47e2b5c4a1f0e9d8c7b6","expires_in":"7200","refresh_token":"8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39","scope":"item_read order_read","token_type":"bearer"}`},
	}
	const rt = "8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	for _, body := range bodies {
		b.Run("body="+body.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, body.body)
			}))
			defer srv.Close()
			conf := &oauth2.Config{ClientID: "bench-client", ClientSecret: "bench-secret", Endpoint: EndpointAt(srv.URL + "/rest/v2")}
			uc := &Config{Config: *conf}
			impls := []struct {
				name string
				call func(ctx context.Context) (*oauth2.Token, error)
			}{
				{"xoauth2", func(ctx context.Context) (*oauth2.Token, error) {
					return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
				}},
				{"ultracart", func(ctx context.Context) (*oauth2.Token, error) {
					return refresh(ctx, conf, rt)
				}},
				{"configsource", func(ctx context.Context) (*oauth2.Token, error) {
					return uc.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
				}},
			}
			for _, impl := range impls {
				b.Run("impl="+impl.name, func(b *testing.B) {
					ctx := context.Background()
					if _, err := impl.call(ctx); err != nil { // warm the connection
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						tok, err := impl.call(ctx)
						if err != nil {
							b.Fatal(err)
						}
						if tok.Expiry.IsZero() {
							b.Fatal("the token has no expiry")
						}
					}
				})
			}
		})
	}
}
