package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordAt finds the record whose payload is p in a segment's bytes and
// returns the offsets of its header and of its end.
func recordAt(t testing.TB, data []byte, p string) (int, int) {
	t.Helper()
	i := bytes.Index(data, []byte(p))
	if i < headerSize {
		t.Fatalf("payload %.20q not found", p)
	}
	return i - headerSize, i + len(p)
}

// edit changes the file at path with change and returns its new bytes.
func edit(t testing.TB, path string, change func(data []byte) []byte) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = change(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// readLost reads every record from the first, a lost one as a nil payload.
func readLost(t testing.TB, j *Journal) map[uint64]*string {
	t.Helper()
	got := map[uint64]*string{}
	if _, err := j.Read(j.First(), 1<<30, func(seq uint64, p []byte) error {
		if p == nil {
			got[seq] = nil
		} else {
			s := string(p)
			got[seq] = &s
		}
		return nil
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

// checkDamaged checks that every record from 1 to n reads back as
// appended, but record bad, which reads as lost.
func checkDamaged(t testing.TB, got map[uint64]*string, n int, bad uint64, size int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		p, ok := got[uint64(i)]
		switch {
		case !ok:
			t.Fatalf("record %d is gone", i)
		case uint64(i) == bad && p != nil:
			t.Fatalf("damaged record %d reads as %.30q", i, *p)
		case uint64(i) != bad && p == nil:
			t.Fatalf("record %d reads as lost", i)
		case uint64(i) != bad && *p != payload(i, size):
			t.Fatalf("record %d reads as %.30q", i, *p)
		}
	}
}

// One damaged byte in a record of the last segment: the acknowledged
// records after it must not be dropped with it, the damaged one must be
// reported lost, and the damaged segment kept aside as it was.
func TestCorruptRecordKeepsTheRecordsAfterIt(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt func(data []byte, hdr, payload int)
	}{
		{"payload byte", func(data []byte, _, p int) { data[p+5] ^= 0x40 }},
		{"zeroed length", func(data []byte, hdr, _ int) { copy(data[hdr:hdr+4], make([]byte, 4)) }},
		{"seq byte", func(data []byte, hdr, _ int) { data[hdr+8] ^= 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			j := open(t, dir, Options{})
			appendAll(t, j, payloads(1, 100, 100)...)
			mustClose(t, j)
			seg := filepath.Join(dir, "00000000000000000001.journal")
			data := edit(t, seg, func(data []byte) []byte {
				hdr, end := recordAt(t, data, payload(20, 100))
				c.corrupt(data, hdr, end-100)
				return data
			})

			j = open(t, dir, Options{})
			checkDamaged(t, readLost(t, j), 100, 20, 100)
			if j.Committed() != 100 {
				t.Fatalf("Committed %d", j.Committed())
			}
			appendAll(t, j, payload(101, 100))
			mustClose(t, j)
			aside, err := filepath.Glob(seg + ".damaged*")
			if err != nil || len(aside) != 1 {
				t.Fatalf("damaged copy: %v, %v", aside, err)
			}
			kept, err := os.ReadFile(aside[0])
			if err != nil || !bytes.Equal(kept, data) {
				t.Fatalf("the damaged copy differs from the damaged segment (%v)", err)
			}
			j = open(t, dir, Options{})
			got := readLost(t, j)
			checkDamaged(t, got, 101, 20, 100)
			mustClose(t, j)
		})
	}
}

// TestCorruptAnyByte changes each byte of each record, in turn, in every
// segment, to three other values. Open must either refuse, naming the
// segment and the offset, or keep every other record and report the
// damaged one lost. After a clean Close no damage can be taken for a torn
// write; after a crash only the last group commit may be.
func TestCorruptAnyByte(t *testing.T) {
	const n, size = 30, 60
	for _, closed := range []bool{true, false} {
		t.Run(fmt.Sprintf("closed=%v", closed), func(t *testing.T) {
			m := newMemFS(newSnapshot("/", "/data", crashDir))
			opts := Options{SegmentBytes: 1024}
			j := openMem(t, m, opts)
			appendAll(t, j, payloads(1, n, size)...)
			if closed {
				mustClose(t, j)
			} else {
				defer j.Close()
			}
			m.mu.Lock()
			base := m.cur.clone()
			m.mu.Unlock()
			paths := make([]string, 0, len(base.names))
			for p := range base.names {
				if strings.HasSuffix(p, ".journal") {
					paths = append(paths, p)
				}
			}
			opened, refused, torn := 0, 0, 0
			for i := 1; i <= n; i++ {
				var path string
				var hdr, end int
				for _, p := range paths {
					if bytes.Contains(base.file(p), []byte(payload(i, size))) {
						path = p
						hdr, end = recordAt(t, base.file(p), payload(i, size))
					}
				}
				for at := hdr; at < end; at++ {
					orig := base.file(path)[at]
					for _, v := range []byte{orig ^ 0xff, 0, orig ^ 1} {
						if v == orig {
							continue
						}
						s := base.clone()
						s.data[s.names[path]][at] = v
						desc := fmt.Sprintf("record %d, byte %d of %s set to %#x", i, at, filepath.Base(path), v)
						o := opts
						o.fs = newMemFS(s)
						j, err := Open(crashDir, o)
						if err != nil {
							refused++
							if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
								t.Fatalf("%s: Open: %v", desc, err)
							}
							continue
						}
						opened++
						got := readLost(t, j)
						if !closed && i == n && j.Committed() == n-1 {
							// The last group commit, taken for a torn write.
							torn++
							checkDamaged(t, got, n-1, 0, size)
						} else {
							if j.Committed() != n {
								t.Fatalf("%s: Committed %d", desc, j.Committed())
							}
							checkDamaged(t, got, n, uint64(i), size)
						}
						j.Close()
					}
				}
			}
			t.Logf("%d damaged journals: %d opened with every other record and the damaged one reported lost, %d taken for a torn last write, %d refused",
				opened+refused, opened-torn, torn, refused)
		})
	}
}

// encodeV1 returns version 1 records (no segment header, a 16-byte record
// header whose CRC covers seq and payload only) from seq on.
func encodeV1(seq uint64, payloads ...string) []byte {
	var b []byte
	for i, p := range payloads {
		at := len(b)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint64(b, seq+uint64(i))
		b = append(b, p...)
		binary.LittleEndian.PutUint32(b[at+4:], legacyChecksum(b[at:at+legacyHeaderSize], []byte(p)))
	}
	return b
}

// A journal written by the version before is read, and appended to in a
// new segment of the current version.
func TestReadsVersion1Segments(t *testing.T) {
	dir := t.TempDir()
	seg := func(first uint64, records []byte) {
		data := append(records, make([]byte, 4096-len(records))...)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.journal", first)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	seg(1, encodeV1(1, payloads(1, 10, 200)...))
	seg(11, append(encodeV1(11, payloads(11, 15, 200)...), "torn"...))
	opts := Options{SegmentBytes: 4096}
	j := open(t, dir, opts)
	check(t, readAll(t, j, 1), want(1, 15, 200))
	appendAll(t, j, payloads(16, 20, 200)...)
	check(t, readAll(t, j, 1), want(1, 20, 200))
	mustClose(t, j)
	if files := segmentFiles(t, dir); len(files) != 3 || files[2] != "00000000000000000016.journal" {
		t.Fatalf("segments %v", files)
	}
	j = open(t, dir, opts)
	check(t, readAll(t, j, 1), want(1, 20, 200))
	if err := j.Release(15); err != nil {
		t.Fatal(err)
	}
	check(t, readAll(t, j, 16), want(16, 20, 200))
	mustClose(t, j)

	// Damage in a version 1 segment that is not the last is refused.
	dir = t.TempDir()
	bad := encodeV1(1, payloads(1, 10, 200)...)
	bad[3*(legacyHeaderSize+200)+30] ^= 1
	seg(1, bad)
	seg(11, encodeV1(11, payloads(11, 15, 200)...))
	if _, err := Open(dir, opts); err == nil || !strings.Contains(err.Error(), "00000000000000000001.journal: bad record at offset 648") {
		t.Fatalf("Open: %v", err)
	}
}

// Bytes after a close marker are no record anyone acknowledged: they go,
// with the marker, and appends continue where the records end.
func TestDataAfterTheCloseMarker(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096}
	j := open(t, dir, opts)
	appendAll(t, j, payloads(1, 5, 100)...)
	mustClose(t, j)
	seg := filepath.Join(dir, "00000000000000000001.journal")
	edit(t, seg, func(data []byte) []byte {
		end := segHeaderSize + 5*(headerSize+100)
		copy(data[end+headerSize+7:], "garbage")
		return data
	})
	j = open(t, dir, opts)
	check(t, readAll(t, j, 1), want(1, 5, 100))
	appendAll(t, j, payload(6, 100))
	mustClose(t, j)
	j = open(t, dir, opts)
	check(t, readAll(t, j, 1), want(1, 6, 100))
	mustClose(t, j)
}

// Zeros from some record to the end of a segment that is not the last
// cannot be told from a segment missing after it: Open refuses, naming the
// segment and where its records end.
func TestZeroedEndOfAnEarlierSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096}
	j := open(t, dir, opts)
	appendAll(t, j, payloads(1, 30, 200)...) // segments from 1 and 19
	mustClose(t, j)
	seg := filepath.Join(dir, "00000000000000000001.journal")
	end := segHeaderSize + 15*(headerSize+200)
	edit(t, seg, func(data []byte) []byte {
		clear(data[end:])
		return data
	})
	_, err := Open(dir, opts)
	if err == nil || !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", end)) {
		t.Fatalf("Open: %v", err)
	}
}

// Damage at the very end of a segment that is not the last: bytes after
// its last record are ignored, since the next segment starts where they
// end; missing records with no room to mark them lost are refused.
func TestDamageAtTheEndOfAnEarlierSegment(t *testing.T) {
	opts := Options{SegmentBytes: 4096}
	t.Run("after the last record", func(t *testing.T) {
		dir := t.TempDir()
		j := open(t, dir, opts)
		appendAll(t, j, payloads(1, 30, 200)...) // segments from 1 and 19
		mustClose(t, j)
		seg := filepath.Join(dir, "00000000000000000001.journal")
		edit(t, seg, func(data []byte) []byte {
			data[len(data)-1] = 1
			return data
		})
		j = open(t, dir, opts)
		check(t, readAll(t, j, 1), want(1, 30, 200))
		mustClose(t, j)
	})
	t.Run("no room to mark records lost", func(t *testing.T) {
		dir := t.TempDir()
		seg := filepath.Join(dir, "00000000000000000002.journal")
		if err := os.WriteFile(seg, append(segmentHeader(), '0'), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000029.journal"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, opts); err == nil || !strings.Contains(err.Error(), seg+": bad record at offset 16") {
			t.Fatalf("Open: %v", err)
		}
	})
}
