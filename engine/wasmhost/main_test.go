package wasmhost

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

// Go guests the tests run, by short name: the bundled plugins (one module
// holding all five, see bundledNames), the example, and the test guests
// under testdata/plugins.
var goGuests = map[string]string{
	"bundled": "plugins/bundled",
	"discord": "examples/plugins/discord",
	"trivial": "testdata/plugins/trivial",
	"probe":   "testdata/plugins/probe",
	"loop":    "testdata/plugins/loop",
	"membomb": "testdata/plugins/membomb",
	"panic":   "testdata/plugins/panic",
	"escape":  "testdata/plugins/escape",
	"hugeout": "testdata/plugins/hugeout",
	"leaky":   "testdata/plugins/leaky",
}

// bundledNames are the plugins the "bundled" guest holds.
var bundledNames = []string{"auditlog", "console", "pagerduty", "slack", "webhook"}

// watGuests are hand-written modules, checked in as .wat with the .wasm
// wat2wasm made from it (plugins/build.sh remakes them).
var watGuests = []string{"minimal", "unreachable", "badsig", "oob", "refuse"}

// guest maps a short name to its .wasm path.
var guest = map[string]string{}

// compileCache is the wazero compilation cache every test host shares, so
// each module is compiled once per machine rather than once per test.
var compileCache string

func TestMain(m *testing.M) {
	if err := buildGuests(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func buildGuests() error {
	dir, err := wasmtest.CacheDir("wasmhost")
	if err != nil {
		return err
	}
	var pkgs []string
	for _, pkg := range goGuests {
		if _, err := os.Stat(filepath.Join("..", "..", pkg)); err == nil {
			pkgs = append(pkgs, pkg)
		}
	}
	if compileCache, err = wasmtest.CompileCacheDir(); err != nil {
		return err
	}
	paths, err := wasmtest.Build(dir, pkgs...)
	if err != nil {
		return err
	}
	for name, pkg := range goGuests {
		if p, ok := paths[pkg]; ok {
			guest[name] = p
		}
	}
	for _, name := range watGuests {
		guest[name] = filepath.Join("..", "..", "testdata", "plugins", name, name+".wasm")
	}
	return nil
}
