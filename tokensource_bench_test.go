package ultracart

import (
	"context"
	"net/http"
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

// okTransport answers every request with an empty 200, in process, so that
// a benchmark measures the client and not the network.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// BenchmarkClientRequest compares a request through the client of
// NewClient over PersistentTokenSource (impl=ultracart) with one through
// x/oauth2's client over the same valid token (impl=xoauth2, conf.Client),
// serially and in parallel, on a transport that answers in process: the
// cost of the clients themselves, token read included. Compare with
// `benchstat -col /impl`.
func BenchmarkClientRequest(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "uc-at-bench", RefreshToken: "uc-rt-bench", Expiry: time.Now().Add(24 * time.Hour)}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: okTransport{}})
	conf := &oauth2.Config{ClientID: "bench", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/unused"}}
	impls := []struct {
		name string
		new  func() *http.Client
	}{
		{"ultracart", func() *http.Client {
			return NewClient(ctx, PersistentTokenSource(ctx, conf, NewMemoryStore(tok)))
		}},
		{"xoauth2", func() *http.Client { return conf.Client(ctx, tok) }},
	}
	get := func(b *testing.B, client *http.Client) {
		resp, err := client.Get("http://127.0.0.1:1/rest/v2/item/items")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.Run("run=serial", func(b *testing.B) {
				client := impl.new()
				get(b, client) // the first request loads the token
				b.ReportAllocs()
				for b.Loop() {
					get(b, client)
				}
			})
			b.Run("run=parallel", func(b *testing.B) {
				client := impl.new()
				get(b, client)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						get(b, client)
					}
				})
			})
		})
	}
}
