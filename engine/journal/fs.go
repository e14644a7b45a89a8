package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fileSystem is every file operation the journal makes. The journal runs on
// the operating system's (osFS); the crash tests give it one that records
// each write, sync, rename and directory sync and builds the states a power
// cut could leave behind.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Mkdir(name string, perm os.FileMode) error
	// List returns the names of the regular files in dir.
	List(dir string) ([]string, error)
	// SyncDir makes the creation, renaming and removal of dir's entries
	// durable.
	SyncDir(dir string) error
}

// file is an open file of a fileSystem.
type file interface {
	io.ReaderAt
	io.WriterAt
	Sync() error     // data and metadata
	Datasync() error // data, and only the metadata needed to read it back
	Size() (int64, error)
	Close() error
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldpath, newpath string) error      { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// makeDir creates dir and any missing parent, and makes each one's entry
// durable in its parent. The parent of dir is synced even when dir already
// existed: a crashed process may have created it without.
func makeDir(fsys fileSystem, dir string) error {
	err := fsys.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		if parent := filepath.Dir(dir); parent != dir {
			if err := makeDir(fsys, parent); err != nil {
				return err
			}
			err = fsys.Mkdir(dir, 0o700)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(fsys, filepath.Dir(dir))
}

// syncDir makes the creation, renaming or removal of files in dir durable.
func syncDir(fsys fileSystem, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", dir, err)
	}
	return nil
}
