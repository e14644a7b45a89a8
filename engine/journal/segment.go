package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
	// end is the end of the durable records, so that Read does not read
	// ahead into bytes that hold nothing for it.
	end atomic.Int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of a record's seq bytes and payload: covering seq
// means a stale record from an earlier pass can never pass for a new one.
func checksum(seq []byte, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(seq, castagnoli), castagnoli, payload)
}

func appendRecord(buf []byte, seq uint64, payload []byte) []byte {
	at := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // the CRC, once seq is in place
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	binary.LittleEndian.PutUint32(buf[at+4:], checksum(buf[at+8:at+16], payload))
	return append(buf, payload...)
}

// errEnd reports a zero length: the end of the written data.
var errEnd = errors.New("end of data")

// reader reads records; it keeps its buffers between calls.
type reader struct {
	br      *bufio.Reader
	hdr     [headerSize]byte
	payload []byte
}

// reset starts reading f at off; size is the segment's size.
func (r *reader) reset(f io.ReaderAt, off, size int64) {
	sr := io.NewSectionReader(f, off, size-off)
	if r.br == nil {
		r.br = bufio.NewReaderSize(sr, 256<<10)
	} else {
		r.br.Reset(sr)
	}
}

// next reads the record at off, which must have sequence number seq, and
// returns its payload (valid until the next call) and its size on disk.
// room is how many bytes the segment has left from off.
func (r *reader) next(seq uint64, room int64) ([]byte, int64, error) {
	if room < headerSize {
		return nil, 0, errEnd // too little room even for a header: the writer rotated
	}
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("short read: %w", err)
	}
	n := int64(binary.LittleEndian.Uint32(r.hdr[0:]))
	if n == 0 {
		return nil, 0, errEnd
	}
	if n > room-headerSize {
		return nil, 0, fmt.Errorf("length %d runs past the end of the segment", n)
	}
	if s := binary.LittleEndian.Uint64(r.hdr[8:]); s != seq {
		return nil, 0, fmt.Errorf("sequence %d where %d was due", s, seq)
	}
	if int64(cap(r.payload)) < n {
		r.payload = make([]byte, n)
	}
	p := r.payload[:n]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return nil, 0, fmt.Errorf("short read: %w", err)
	}
	if checksum(r.hdr[8:], p) != binary.LittleEndian.Uint32(r.hdr[4:]) {
		return nil, 0, errors.New("checksum mismatch")
	}
	return p, headerSize + n, nil
}

// scan reads a segment's records from its start, calling fn (if not nil) for
// each. It returns the end of the valid records, the sequence number due
// next, and why it stopped if that was not a clean end of data.
func scan(rd *reader, f io.ReaderAt, size int64, first uint64, fn func(seq uint64, payload []byte)) (int64, uint64, error) {
	rd.reset(f, 0, size)
	off, seq := int64(0), first
	for {
		p, n, err := rd.next(seq, size-off)
		if err == errEnd {
			return off, seq, nil
		}
		if err != nil {
			return off, seq, err
		}
		if fn != nil {
			fn(seq, p)
		}
		off += n
		seq++
	}
}

// recover opens and checks the segments in j.dir and sets up the writer at
// the end of the last one.
func (j *Journal) recover() error {
	// A prepared segment that was never renamed holds no records; it may be
	// half zeroed, so start it over.
	if err := j.fs.Remove(j.tmpPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	firsts, err := listSegments(j.fs, j.dir)
	if err != nil {
		return err
	}
	if len(firsts) == 0 {
		// A new journal starts with a small segment, so that a first start
		// does not wait for SegmentBytes of zeros; the next is full size.
		size := min(j.opts.SegmentBytes, firstSegmentBytes)
		f, err := prepareSegment(j.fs, j.tmpPath(), size, nil)
		if err != nil {
			return err
		}
		path := j.segPath(1)
		if err := j.fs.Rename(j.tmpPath(), path); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
		if err := syncDir(j.fs, j.dir); err != nil {
			f.Close()
			return err
		}
		j.segs = []*segment{{first: 1, path: path, f: f, size: size}}
		j.active, j.off, j.next = j.segs[0], 0, 1
		return nil
	}
	var rd reader
	next := firsts[0]
	for i, first := range firsts {
		last := i == len(firsts)-1
		path := j.segPath(first)
		if first != next {
			return fmt.Errorf("journal: %s starts at sequence %d but the previous segment ends before %d: a segment is missing or damaged", path, first, next)
		}
		flag := os.O_RDONLY
		if last {
			flag = os.O_RDWR
		}
		f, err := j.fs.OpenFile(path, flag, 0)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
		seg := &segment{first: first, path: path, f: f, size: size}
		j.segs = append(j.segs, seg)
		end, n, bad := scan(&rd, f, seg.size, first, nil)
		if bad != nil && !last {
			return fmt.Errorf("journal: %s: bad record at offset %d (%v); only the last segment may have a torn tail, refusing to drop records", path, end, bad)
		}
		if last {
			if bad != nil {
				j.log.Warn("journal: dropping the torn tail of the last segment", "file", path, "offset", end, "reason", bad, "next", n)
			}
			if err := zeroTail(f, end, seg.size); err != nil {
				return fmt.Errorf("journal: zeroing the tail of %s: %w", path, err)
			}
			j.active, j.off = seg, end
		}
		seg.end.Store(end)
		next = n
	}
	j.next = next
	return j.syncInherited()
}

// syncInherited makes durable what a crashed process may have left in the
// page cache only, before any of it is reported committed: the segments'
// data (a tail written but never synced) and the directory's entries (a
// segment renamed into place but never synced, which a power cut would
// turn back into next.tmp).
func (j *Journal) syncInherited() error {
	for _, s := range j.segs {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("journal: syncing %s: %w", s.path, err)
		}
	}
	return syncDir(j.fs, j.dir)
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
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	zeros := make([]byte, chunk)
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

// prepareSegment creates a segment file at path and fills it with zeros up
// to size, then fsyncs it, so that later writes into it change no file
// metadata. A set stop abandons it.
func prepareSegment(fsys fileSystem, path string, size int64, stop *atomic.Bool) (file, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	zeros := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		if stop != nil && stop.Load() {
			f.Close()
			return nil, errors.New("journal: preparation stopped")
		}
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: preparing %s: %w", path, err)
		}
		off += int64(n)
	}
	// A full fsync: the size and the allocated extents must be durable.
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: preparing %s: %w", path, err)
	}
	return f, nil
}
