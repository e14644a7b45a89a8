package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// segment is one file of the journal.
type segment struct {
	first uint64 // sequence number of its first record, from its name
	path  string
	f     file
	size  int64 // file size; earlier runs may have used another SegmentBytes
	start int64 // where records start: after the segment header
	// legacy: version 1, read but never written to
	legacy bool
	// end is the end of the durable records, so that Read does not read
	// ahead into bytes that hold nothing for it.
	end atomic.Int64
}

// firstSegmentBytes is the size of a new journal's first segment.
const firstSegmentBytes = 1 << 20

// listSegments returns the first sequence numbers of the segments in dir, in
// order.
func listSegments(fsys fileSystem, dir string) ([]uint64, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var firsts []uint64
	for _, n := range names {
		name, ok := strings.CutSuffix(n, ".journal")
		if !ok || len(name) != 20 {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || first == 0 {
			return nil, fmt.Errorf("journal: unexpected file %s", filepath.Join(dir, n))
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	return firsts, nil
}

// zeroTail overwrites every non-zero byte of f from off to size with zeros
// and syncs, so that what a torn write left behind can never parse as a
// record once new records reach it. It reads the whole tail: the torn write
// may have been a batch holding runs of zeros of any length.
func zeroTail(f file, off, size int64) error {
	chunk := min(64<<10, size-off)
	buf := make([]byte, max(chunk, 0))
	zeros := make([]byte, len(buf))
	dirty := false
	for pos := off; pos < size; pos += chunk {
		n := min(chunk, size-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return err
		}
		if bytes.Equal(buf[:n], zeros[:n]) {
			continue
		}
		if _, err := f.WriteAt(zeros[:n], pos); err != nil {
			return err
		}
		dirty = true
	}
	if !dirty {
		return nil
	}
	return f.Datasync()
}

// prepareSegment creates a segment file at path, writes its header and
// fills the rest with zeros up to size, then fsyncs it, so that later
// writes into it change no file metadata. A set stop abandons it. A failed
// preparation removes the file: on a full disk its zeros hold the space a
// later attempt needs.
func prepareSegment(fsys fileSystem, path string, size int64, stop *atomic.Bool) (file, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	fail := func(err error) (file, error) {
		f.Close()
		fsys.Remove(path)
		return nil, err
	}
	buf := make([]byte, min(size, 1<<20))
	copy(buf, segmentHeader())
	for off := int64(0); off < size; {
		if stop != nil && stop.Load() {
			return fail(errors.New("journal: preparation stopped"))
		}
		n, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil {
			return fail(fmt.Errorf("journal: preparing %s: %w", path, err))
		}
		if off == 0 {
			clear(buf[:segHeaderSize]) // zeros from here on
		}
		off += int64(n)
	}
	// A full fsync: the size and the allocated extents must be durable.
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("journal: preparing %s: %w", path, err))
	}
	return f, nil
}
