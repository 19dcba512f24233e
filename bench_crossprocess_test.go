package ultracart_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ultracart-go/ultracart"
	"golang.org/x/oauth2"
)

// The environment of a child process of BenchmarkCrossProcess.
const (
	crossChildEnv = "ULTRACART_BENCH_CROSS_CHILD" // the token file's path
	crossURLEnv   = "ULTRACART_BENCH_CROSS_URL"   // the token endpoint's base URL
)

// BenchmarkCrossProcess measures processes that share one FileStore: in each
// op, P processes (this test binary, run again) each make a new
// PersistentTokenSource and call Token once, all at the same moment, on one
// expired token; the token endpoint on 127.0.0.1 answers at once. It
// reports the p50 and max of those Token calls (each timed inside its
// process) and the refresh requests per op, which must stay 1. Compare
// P=8 with P=1.
func BenchmarkCrossProcess(b *testing.B) {
	if path := os.Getenv(crossChildEnv); path != "" {
		crossChild(b, path, os.Getenv(crossURLEnv))
		return
	}
	var refreshes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","refresh_token":"rt-%d","expires_in":3600}`, n, n)
	}))
	defer srv.Close()

	for _, p := range []int{1, 8} {
		b.Run(fmt.Sprintf("P=%d", p), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "token.json")
			children := make([]*crossProc, p)
			for i := range children {
				children[i] = startCrossChild(b, path, srv.URL)
			}
			store := ultracart.NewFileStore(path)
			var lat []time.Duration
			refreshes.Store(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				expired := &oauth2.Token{AccessToken: "at-old", TokenType: "Bearer", RefreshToken: "rt-old", Expiry: time.Now().Add(-time.Minute)}
				if err := store.Save(context.Background(), expired); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, c := range children {
					c.start()
				}
				for _, c := range children {
					d, err := c.result()
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, d)
				}
			}
			b.StopTimer()
			for _, c := range children {
				c.stop(b)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
			b.ReportMetric(float64(refreshes.Load())/float64(b.N), "refreshes/op")
		})
	}
}

// crossProc is one child process and the pipes that drive it: a line on
// its fd 3 starts a Token call, whose duration it writes to its fd 4.
type crossProc struct {
	cmd    *exec.Cmd
	goW    *os.File
	res    *bufio.Reader
	resR   *os.File
	stderr bytes.Buffer
}

func startCrossChild(b *testing.B, path, url string) *crossProc {
	b.Helper()
	goR, goW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	c := &crossProc{goW: goW, resR: resR, res: bufio.NewReader(resR)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkCrossProcess$", "-test.benchtime=1x")
	c.cmd.Env = append(os.Environ(), crossChildEnv+"="+path, crossURLEnv+"="+url)
	c.cmd.ExtraFiles = []*os.File{goR, resW}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	goR.Close()
	resW.Close()
	b.Cleanup(func() { c.stop(b) })
	if line, err := c.res.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("the child process did not start: %q, %v; stderr: %s", line, err, c.stderr.String())
	}
	return c
}

func (c *crossProc) start() { io.WriteString(c.goW, "go\n") }

func (c *crossProc) result() (time.Duration, error) {
	line, err := c.res.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("the child process stopped: %v; stderr: %s", err, c.stderr.String())
	}
	line = strings.TrimSuffix(line, "\n")
	n, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the child process failed: %s", line)
	}
	return time.Duration(n), nil
}

// stop closes the child's input, so that it exits, and waits for it.
func (c *crossProc) stop(b *testing.B) {
	if c.goW == nil {
		return
	}
	c.goW.Close()
	c.goW = nil
	if err := c.cmd.Wait(); err != nil {
		b.Errorf("the child process failed: %v; stderr: %s", err, c.stderr.String())
	}
	c.resR.Close()
}

// crossChild is the body of a child process: for each line on fd 3, a new
// PersistentTokenSource over the FileStore at path, one Token call, and its
// duration in nanoseconds (or its error) as a line on fd 4.
func crossChild(b *testing.B, path, url string) {
	in := bufio.NewReader(os.NewFile(3, "go"))
	out := os.NewFile(4, "results")
	defer out.Close()
	conf := &oauth2.Config{ClientID: "bench-client", Endpoint: ultracart.EndpointAt(url + "/rest/v2")}
	store := ultracart.NewFileStore(path)
	io.WriteString(out, "ready\n")
	for {
		if _, err := in.ReadString('\n'); err != nil {
			return
		}
		src := ultracart.PersistentTokenSource(context.Background(), conf, store)
		start := time.Now()
		_, err := src.Token()
		d := time.Since(start)
		if err != nil {
			fmt.Fprintf(out, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(out, "%d\n", d.Nanoseconds())
	}
}
