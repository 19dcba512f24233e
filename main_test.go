package ultracart_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets the tests that call t.Parallel overlap beyond GOMAXPROCS
// (the default of -parallel) unless -parallel is given: they wait on child
// processes and on the go command far more than they compute, and on a
// 2-core machine two at a time made the package's tests take twice as long.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", "8"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
