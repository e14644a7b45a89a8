package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing/fstest"
)

// Source says where a policy set is read from: a directory on disk, which
// can be watched, a file system such as an embedded default set, or a
// signed bundle served over HTTP, which can be polled.
type Source struct {
	// Dir is the policy directory, e.g. "policies". Subdirectories are read
	// too; data files in them load under data.<dir>..., as with opa test.
	Dir string
	// FS is read instead of Dir when Dir is empty.
	FS fs.FS
	// Bundle is fetched instead, by an Engine: Load reads only Dir or FS.
	Bundle *BundleSource
	// DataOverrides are deep-merged over the data files, e.g.
	// {"thresholds": {"drift": 0.05}} changes one threshold and keeps the
	// others. Every key must already exist in the data files: a misspelled
	// override is an error, not a silent no-op. The set's tests run against
	// the data files alone; overrides apply to decisions only.
	DataOverrides map[string]any
}

func (s Source) validate() error {
	n := 0
	for _, set := range []bool{s.Dir != "", s.FS != nil, s.Bundle != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("policy: source: set one of Dir, FS or Bundle")
	case n == 0:
		return errors.New("policy: source: no Dir, FS or Bundle")
	case s.Bundle != nil:
		return s.Bundle.validate()
	}
	return nil
}

// isPolicyFile reports whether a file belongs to a policy set: Rego modules
// and data files. Anything else in the directory (READMEs, input fixtures,
// editor files) is ignored.
func isPolicyFile(name string) bool {
	base := path.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch base {
	case "data.json", "data.yaml", "data.yml":
		return true
	}
	return strings.HasSuffix(base, ".rego")
}

func isTestModule(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// snapshot is the content of a policy set as read at one moment. Everything
// after reading — the loader, the compiler, the revision — works from it, so
// the revision always names exactly what was compiled, even if files change
// while a reload runs.
type snapshot struct {
	files   map[string][]byte // slash-separated name inside the source → content
	names   []string          // sorted keys of files
	display func(string) string
}

// read takes a snapshot of src's policy files.
func read(src Source) (*snapshot, error) {
	fsys := src.FS
	display := func(name string) string { return name }
	if src.Dir != "" {
		fi, err := os.Stat(src.Dir)
		if err != nil {
			return nil, fmt.Errorf("policy: read %s: %w", src.Dir, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("policy: read %s: not a directory", src.Dir)
		}
		fsys = os.DirFS(src.Dir)
		dir := src.Dir
		display = func(name string) string {
			if name == "" {
				return ""
			}
			return filepath.Join(dir, filepath.FromSlash(name))
		}
	}
	s := &snapshot{files: map[string][]byte{}, display: display}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git, editor state, Kubernetes' ..data
			}
			return nil
		}
		if !isPolicyFile(name) {
			return nil
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		s.files[name] = b
		s.names = append(s.names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", s.display("."), err)
	}
	sort.Strings(s.names)
	return s, nil
}

// fs returns the snapshot as a file system for OPA's loader. fstest.MapFS is
// the standard library's in-memory fs.FS; it does not import package testing.
func (s *snapshot) fs() fs.FS {
	m := make(fstest.MapFS, len(s.files))
	for name, b := range s.files {
		m[name] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	return m
}
