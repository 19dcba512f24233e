package ultracart_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ultracart-go/ultracart"
	"golang.org/x/oauth2"
)

// The token bodies the token-call benchmarks answer with: RFC 6749's form
// (a numeric expires_in) and UltraCart's (a string expires_in, as its
// OauthTokenResponse documents, and a lower-case token_type).
var benchTokenBodies = []struct{ name, body string }{
	{"rfc", `{"access_token":"3f6e1b0c9d8a47e2b5c4a1f0e9d8c7b6","token_type":"Bearer","refresh_token":"8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39","expires_in":7200,"scope":"item_read order_read"}`},
	{"ultracart", `{"access_token":"3f6e1b0c9d8a47e2b5c4a1f0e9d8c7b6","expires_in":"7200","refresh_token":"8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39","scope":"item_read order_read","token_type":"bearer"}`},
}

// benchTokenServer answers every request at once with body, on 127.0.0.1.
func benchTokenServer(b *testing.B, body string) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchTokenCall runs call in a benchmark loop, for each token body and for
// plain golang.org/x/oauth2 (impl=xoauth2, the baseline) beside this
// package (impl=ultracart). The server's work is in both. Compare with
// `benchstat -col /impl`.
func benchTokenCall(b *testing.B, call func(ctx context.Context, conf *oauth2.Config, uc *ultracart.Config, impl string) (*oauth2.Token, error)) {
	for _, body := range benchTokenBodies {
		b.Run("body="+body.name, func(b *testing.B) {
			srv := benchTokenServer(b, body.body)
			conf := &oauth2.Config{ClientID: "bench-client", ClientSecret: "bench-secret", Endpoint: ultracart.EndpointAt(srv.URL + "/rest/v2")}
			uc := &ultracart.Config{Config: *conf}
			for _, impl := range []string{"xoauth2", "ultracart"} {
				b.Run("impl="+impl, func(b *testing.B) {
					ctx := context.Background()
					if _, err := call(ctx, conf, uc, impl); err != nil { // warm the connection
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						tok, err := call(ctx, conf, uc, impl)
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

func BenchmarkExchange(b *testing.B) {
	benchTokenCall(b, func(ctx context.Context, conf *oauth2.Config, uc *ultracart.Config, impl string) (*oauth2.Token, error) {
		if impl == "xoauth2" {
			return conf.Exchange(ctx, "bench-code")
		}
		return uc.Exchange(ctx, "bench-code")
	})
}
