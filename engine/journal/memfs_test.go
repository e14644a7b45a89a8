package journal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
)

// memFS is a fileSystem in memory that logs every operation. From the log
// it builds the states a power cut after any operation could leave on disk,
// in the manner of the ALICE study ("All File Systems Are Not Created
// Equal", OSDI 2014): a write reaches the disk only once its file is synced,
// a directory entry (create, rename, remove) only once its directory is
// synced, and until then either may be lost, persisted out of order, or, for
// a write, persisted in part.
type memFS struct {
	mu   sync.Mutex
	base snapshot // the durable state the log starts from
	cur  snapshot // what a running process sees: base with every op applied
	log  []op
	// fail, when set, is asked before every operation that changes
	// something; an error it returns fails the operation, which changes
	// nothing.
	fail func(o op) error
}

// snapshot is a file system's content: directories, names and files.
type snapshot struct {
	dirs    map[string]bool
	names   map[string]int // path of a file → its inode
	data    map[int][]byte // inode → content
	nextIno int
}

func newSnapshot(dirs ...string) snapshot {
	s := snapshot{dirs: map[string]bool{}, names: map[string]int{}, data: map[int][]byte{}, nextIno: 1}
	for _, d := range dirs {
		s.dirs[d] = true
	}
	return s
}

func (s snapshot) clone() snapshot {
	c := snapshot{dirs: map[string]bool{}, names: map[string]int{}, data: map[int][]byte{}, nextIno: s.nextIno}
	for d := range s.dirs {
		c.dirs[d] = true
	}
	for p, ino := range s.names {
		c.names[p] = ino
	}
	for ino, b := range s.data {
		c.data[ino] = slices.Clone(b)
	}
	return c
}

// reachable drops what a lost directory entry made unreachable: the
// directories and files under a directory that is not there.
func (s snapshot) reachable() snapshot {
	ok := func(p string) bool {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if !s.dirs[d] {
				return false
			}
			if d == "/" {
				return true
			}
		}
	}
	c := s.clone()
	for d := range c.dirs {
		if d != "/" && !ok(d) {
			delete(c.dirs, d)
		}
	}
	for p, ino := range c.names {
		if !ok(p) {
			delete(c.names, p)
			delete(c.data, ino)
		}
	}
	return c
}

// key identifies a snapshot's visible content, to skip duplicate states.
func (s snapshot) key() string {
	var b strings.Builder
	dirs := make([]string, 0, len(s.dirs))
	for d := range s.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Fprintf(&b, "d %s\n", d)
	}
	paths := make([]string, 0, len(s.names))
	for p := range s.names {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&b, "f %s %x\n", p, sha256.Sum256(s.data[s.names[p]]))
	}
	return b.String()
}

// file returns the content of the file at path, or nil.
func (s snapshot) file(path string) []byte {
	ino, ok := s.names[path]
	if !ok {
		return nil
	}
	return s.data[ino]
}

type opKind int

const (
	opWrite   opKind = iota // data at off in ino
	opTrunc                 // ino to size
	opSync                  // fsync or fdatasync of ino
	opCreate                // a new file ino at path
	opMkdir                 // path
	opRename                // path to path2
	opRemove                // path
	opSyncDir               // fsync of the directory path
)

type op struct {
	kind        opKind
	ino         int
	off, size   int64
	data        []byte
	path, path2 string
}

func (o op) String() string {
	switch o.kind {
	case opWrite:
		return fmt.Sprintf("write ino %d [%d,%d)", o.ino, o.off, o.off+int64(len(o.data)))
	case opTrunc:
		return fmt.Sprintf("truncate ino %d to %d", o.ino, o.size)
	case opSync:
		return fmt.Sprintf("sync ino %d", o.ino)
	case opCreate:
		return fmt.Sprintf("create %s (ino %d)", o.path, o.ino)
	case opMkdir:
		return "mkdir " + o.path
	case opRename:
		return fmt.Sprintf("rename %s %s", o.path, o.path2)
	case opRemove:
		return "remove " + o.path
	default:
		return "syncdir " + o.path
	}
}

// entry reports whether o changes a directory entry, and which directory's.
func (o op) entry() (string, bool) {
	switch o.kind {
	case opCreate, opMkdir, opRename, opRemove:
		return filepath.Dir(o.path), true
	}
	return "", false
}

func (s *snapshot) apply(o op) {
	switch o.kind {
	case opWrite:
		b := s.data[o.ino]
		if end := o.off + int64(len(o.data)); end > int64(len(b)) {
			b = append(b, make([]byte, end-int64(len(b)))...)
		}
		copy(b[o.off:], o.data)
		s.data[o.ino] = b
	case opTrunc:
		b := s.data[o.ino]
		if o.size <= int64(len(b)) {
			b = b[:o.size]
		} else {
			b = append(b, make([]byte, o.size-int64(len(b)))...)
		}
		s.data[o.ino] = b
	case opCreate:
		s.names[o.path] = o.ino
		if _, ok := s.data[o.ino]; !ok {
			s.data[o.ino] = nil
		}
		s.nextIno = max(s.nextIno, o.ino+1)
	case opMkdir:
		s.dirs[o.path] = true
	case opRename:
		if ino, ok := s.names[o.path]; ok {
			s.names[o.path2] = ino
			delete(s.names, o.path)
		}
	case opRemove:
		if _, ok := s.names[o.path]; ok {
			delete(s.names, o.path)
		} else {
			delete(s.dirs, o.path)
		}
	}
}

func newMemFS(s snapshot) *memFS {
	return &memFS{base: s.clone(), cur: s.clone()}
}

// processCrash is what a process started after a crash (not a power cut)
// at op n sees: every operation up to n, most of them still not durable.
func (m *memFS) processCrash(n int) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &memFS{base: m.base.clone(), cur: m.base.clone(), log: slices.Clone(m.log[:n])}
	for _, o := range c.log {
		c.cur.apply(o)
	}
	return c
}

// ops returns how many operations are logged.
func (m *memFS) ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.log)
}

// do logs o and applies it, unless fail refuses it.
func (m *memFS) do(o op) error {
	if m.fail != nil {
		if err := m.fail(o); err != nil {
			return err
		}
	}
	m.log = append(m.log, o)
	m.cur.apply(o)
	return nil
}

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (file, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cur.dirs[filepath.Dir(name)] {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	if m.cur.dirs[name] {
		return nil, pathErr("open", name, errors.New("is a directory"))
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	ino, ok := m.cur.names[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		ino = m.cur.nextIno
		if err := m.do(op{kind: opCreate, path: name, ino: ino}); err != nil {
			return nil, pathErr("open", name, err)
		}
	case flag&os.O_TRUNC != 0 && writable:
		if err := m.do(op{kind: opTrunc, ino: ino}); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	return &memFile{fs: m, ino: ino, name: name, writable: writable}, nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cur.names[oldpath]; !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if filepath.Dir(oldpath) != filepath.Dir(newpath) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.New("memFS renames within a directory only")}
	}
	if err := m.do(op{kind: opRename, path: oldpath, path2: newpath}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, file := m.cur.names[name]
	if !file && !m.cur.dirs[name] {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if err := m.do(op{kind: opRemove, path: name}); err != nil {
		return pathErr("remove", name, err)
	}
	return nil
}

func (m *memFS) Mkdir(name string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, file := m.cur.names[name]; file || m.cur.dirs[name] {
		return pathErr("mkdir", name, fs.ErrExist)
	}
	if !m.cur.dirs[filepath.Dir(name)] {
		return pathErr("mkdir", name, fs.ErrNotExist)
	}
	if err := m.do(op{kind: opMkdir, path: name}); err != nil {
		return pathErr("mkdir", name, err)
	}
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cur.dirs[dir] {
		return nil, pathErr("open", dir, fs.ErrNotExist)
	}
	var names []string
	for p := range m.cur.names {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cur.dirs[dir] {
		return pathErr("open", dir, fs.ErrNotExist)
	}
	if err := m.do(op{kind: opSyncDir, path: dir}); err != nil {
		return pathErr("sync", dir, err)
	}
	return nil
}

type memFile struct {
	fs       *memFS
	ino      int
	name     string
	writable bool
	closed   bool
}

func (f *memFile) check(op string) error {
	if f.closed {
		return pathErr(op, f.name, os.ErrClosed)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	b := f.fs.cur.data[f.ino]
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, pathErr("write", f.name, fs.ErrPermission)
	}
	if err := f.fs.do(op{kind: opWrite, ino: f.ino, off: off, data: slices.Clone(p)}); err != nil {
		return 0, pathErr("write", f.name, err)
	}
	return len(p), nil
}

func (f *memFile) sync(name string) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(name); err != nil {
		return err
	}
	if err := f.fs.do(op{kind: opSync, ino: f.ino}); err != nil {
		return pathErr(name, f.name, err)
	}
	return nil
}

func (f *memFile) Sync() error     { return f.sync("fsync") }
func (f *memFile) Datasync() error { return f.sync("fdatasync") }

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return 0, err
	}
	return int64(len(f.fs.cur.data[f.ino])), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("close"); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// crashState is one state a power cut could leave, and how it came about.
type crashState struct {
	desc string
	snap snapshot
}

// sector is the unit in which a torn write reaches the disk.
const sector = 512

// powerCuts returns the distinct states a power cut right after op n could
// leave: everything durable by then, plus the operations not yet durable
// persisted in order up to each point, each one alone lost, and each write
// torn at its first, middle and last sector boundary and at half its
// length. When more than maxPending operations are pending, only the first
// and last of them are lost or torn one at a time.
func (m *memFS) powerCuts(n int) []crashState {
	m.mu.Lock()
	log := m.log[:n]
	base := m.base
	m.mu.Unlock()

	synced := map[int]int{}       // inode → index of its last sync
	dirSynced := map[string]int{} // directory → index of its last sync
	for i, o := range log {
		switch o.kind {
		case opSync:
			synced[o.ino] = i
		case opSyncDir:
			dirSynced[o.path] = i
		}
	}
	var pending []int
	for i, o := range log {
		switch o.kind {
		case opSync, opSyncDir:
			continue
		}
		if dir, ok := o.entry(); ok {
			if last, ok := dirSynced[dir]; ok && i < last {
				continue
			}
		} else if last, ok := synced[o.ino]; ok && i < last {
			continue
		}
		pending = append(pending, i)
	}

	var out []crashState
	seen := map[string]bool{}
	// build applies the durable operations and those keep chooses; tear,
	// for the op it names, keeps only bytes [from, to) of its write.
	build := func(desc string, keep func(i int) bool, tear int, from, to int64) {
		s := base.clone()
		p := 0
		for i, o := range log {
			if p < len(pending) && pending[p] == i {
				p++
				if !keep(i) {
					continue
				}
				if i == tear {
					o.data = o.data[from-o.off : to-o.off]
					o.off = from
				}
			}
			s.apply(o)
		}
		s = s.reachable()
		if k := s.key(); !seen[k] {
			seen[k] = true
			out = append(out, crashState{desc, s})
		}
	}
	for k := 0; k <= len(pending); k++ {
		build(fmt.Sprintf("the first %d of %d pending ops", k, len(pending)), func(i int) bool {
			return slices.Index(pending, i) < k
		}, -1, 0, 0)
	}
	const maxPending = 24
	for k, i := range pending {
		if len(pending) > maxPending && k >= maxPending/2 && k < len(pending)-maxPending/2 {
			continue
		}
		o := log[i]
		if _, ok := o.entry(); ok || o.kind != opWrite {
			continue
		}
		build(fmt.Sprintf("every pending op but %d (%v)", i, o), func(j int) bool { return j != i }, -1, 0, 0)
		start, end := o.off, o.off+int64(len(o.data))
		cuts := []int64{start + int64(len(o.data))/2}
		if first := (start/sector + 1) * sector; first < end {
			last := (end - 1) / sector * sector
			cuts = append(cuts, first, last, (first/sector+last/sector)/2*sector)
		}
		for _, c := range cuts {
			if c <= start || c >= end {
				continue
			}
			for _, part := range [][2]int64{{start, c}, {c, end}} {
				desc := fmt.Sprintf("op %d (%v) torn to [%d,%d)", i, o, part[0], part[1])
				build(desc+", the pending ops before it kept", func(j int) bool { return j <= i }, i, part[0], part[1])
				build(desc+", every other pending op kept", func(int) bool { return true }, i, part[0], part[1])
			}
		}
	}
	return out
}

// powerCut returns the state a power cut now leaves when nothing that was
// not durable reached the disk.
func (m *memFS) powerCut() *memFS {
	return newMemFS(m.powerCuts(m.ops())[0].snap)
}

// setFail sets fail; see memFS.
func (m *memFS) setFail(fail func(o op) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = fail
}
