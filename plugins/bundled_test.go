package plugins

import (
	"go/parser"
	"go/token"
	"path"
	"slices"
	"strconv"
	"testing"
)

// TestBundledNames checks BundledNames against what bundled/main.go
// imports, so "bundled:<name>" is refused or accepted by what the module
// really holds. The module itself reports the same names when described
// without an entry (engine/wasmhost's TestCheckBundledModule).
func TestBundledNames(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "bundled/main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported = append(imported, path.Base(p))
	}
	slices.Sort(imported)
	if !slices.Equal(imported, BundledNames) {
		t.Errorf("bundled/main.go imports %v; BundledNames is %v", imported, BundledNames)
	}
	for _, name := range BundledNames {
		if !IsBundled(name) {
			t.Errorf("IsBundled(%q) = false", name)
		}
	}
	if IsBundled("teams") {
		t.Error(`IsBundled("teams") = true`)
	}
}
