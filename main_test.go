package ultracart_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets the tests that call t.Parallel overlap beyond GOMAXPROCS (the
// default of -parallel) unless -parallel is given: slow and self-contained,
// they wait on child processes or the go command, or use an idle core.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
