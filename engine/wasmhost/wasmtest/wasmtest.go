// Package wasmtest builds Go guests for tests, so that `go test ./...` works
// on a fresh clone with nothing but the Go toolchain.
//
// Guests are built into a cache directory under the module
// (testdata/plugins/.build/<consumer>/, ignored by git). `go build -o` leaves
// an up-to-date output alone, so only the first run pays for linking. Each
// test package passes its own consumer name, so packages that `go test`
// runs in parallel never write the same file.
package wasmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// ModuleRoot returns the directory of the go.mod enclosing the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("wasmtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// CacheDir returns testdata/plugins/.build/<consumer> under the module root.
func CacheDir(consumer string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "plugins", ".build", consumer), nil
}

// CompileCacheDir returns the wazero compilation cache all test packages
// share, testdata/plugins/.build/wazero under the module root. wazero writes
// its entries atomically, so concurrent test binaries may share it.
func CompileCacheDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "plugins", ".build", "wazero"), nil
}

// Setup is for TestMain: it builds pkgDirs into CacheDir(consumer) and
// returns their paths by base name ("plugins/slack" → "slack") and the
// shared compilation cache directory.
func Setup(consumer string, pkgDirs ...string) (paths map[string]string, compileCache string, err error) {
	dir, err := CacheDir(consumer)
	if err != nil {
		return nil, "", err
	}
	built, err := Build(dir, pkgDirs...)
	if err != nil {
		return nil, "", err
	}
	paths = make(map[string]string, len(built))
	for pkg, p := range built {
		paths[filepath.Base(pkg)] = p
	}
	compileCache, err = CompileCacheDir()
	return paths, compileCache, err
}

// Build compiles each Go main package, given as a directory relative to the
// module root (e.g. "plugins/slack"), into outDir/<base name>.wasm with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared. It returns the paths by
// package directory. Builds run in parallel, one per CPU.
func Build(outDir string, pkgDirs ...string) (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		paths = make(map[string]string, len(pkgDirs))
		errs  []error
		sem   = make(chan struct{}, max(1, runtime.NumCPU()))
	)
	for _, pkg := range pkgDirs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out := filepath.Join(outDir, filepath.Base(pkg)+".wasm")
			err := buildOne(root, pkg, out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			paths[pkg] = out
		})
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

func buildOne(root, pkg, out string) error {
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-buildvcs=false", "-o", out, "./"+filepath.ToSlash(pkg))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("wasmtest: build %s: %v\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Main is a whole TestMain for a package that tests guests: it builds
// pkgDirs as Setup does, hands the results to use, runs the tests and exits.
// A failed build ends the test binary with the error.
func Main(m *testing.M, consumer string, use func(paths map[string]string, compileCache string), pkgDirs ...string) {
	paths, cache, err := Setup(consumer, pkgDirs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	use(paths, cache)
	os.Exit(m.Run())
}

// MainBundled is Main for the tests of a bundled plugin: it builds the one
// module every bundled plugin is in (plugins/bundled) and sets module and
// compileCache before the tests run.
func MainBundled(m *testing.M, consumer string, module, compileCache *string) {
	Main(m, consumer, func(paths map[string]string, cache string) {
		*module, *compileCache = paths["bundled"], cache
	}, "plugins/bundled")
}
