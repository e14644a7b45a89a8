package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type rec struct {
	seq     uint64
	payload string
}

func open(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j
}

func mustClose(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func appendAll(t testing.TB, j *Journal, payloads ...string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, p := range payloads {
		seq, err := j.Append(context.Background(), []byte(p))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func readAll(t testing.TB, j *Journal, from uint64) []rec {
	t.Helper()
	var out []rec
	n, err := j.Read(from, 1<<30, func(seq uint64, p []byte) error {
		out = append(out, rec{seq, string(p)})
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%d): %v", from, err)
	}
	if n != len(out) {
		t.Fatalf("Read returned %d, fn saw %d", n, len(out))
	}
	return out
}

// payload is record i's payload, of a size that varies with i.
func payload(i int, size int) string {
	s := fmt.Sprintf("record-%d-", i)
	return s + strings.Repeat(string(rune('a'+i%26)), max(0, size-len(s)))
}

func payloads(from, to, size int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, payload(i, size))
	}
	return out
}

func want(from, to, size int) []rec {
	var out []rec
	for i := from; i <= to; i++ {
		out = append(out, rec{uint64(i), payload(i, size)})
	}
	return out
}

func check(t testing.TB, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got seq %d %.30q, want seq %d %.30q", i, got[i].seq, got[i].payload, want[i].seq, want[i].payload)
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.journal"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestAppendRead(t *testing.T) {
	j := open(t, t.TempDir(), Options{SegmentBytes: 1 << 20})
	defer mustClose(t, j)
	if j.Committed() != 0 || j.First() != 1 {
		t.Fatalf("fresh journal: Committed %d First %d", j.Committed(), j.First())
	}
	if n, err := j.Read(1, 10, func(uint64, []byte) error { return nil }); n != 0 || err != nil {
		t.Fatalf("Read of an empty journal: %d, %v", n, err)
	}
	seqs := appendAll(t, j, payloads(1, 100, 100)...)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("append %d got seq %d", i, s)
		}
	}
	if j.Committed() != 100 || j.First() != 1 {
		t.Fatalf("Committed %d First %d", j.Committed(), j.First())
	}
	select {
	case <-j.Commits():
	default:
		t.Fatal("no commit notification")
	}
	check(t, readAll(t, j, 1), want(1, 100, 100))
	check(t, readAll(t, j, 0), want(1, 100, 100))
	check(t, readAll(t, j, 57), want(57, 100, 100))
	check(t, readAll(t, j, 101), nil)

	// A limit, then going on from where it stopped (the cursor), and back.
	var got []rec
	for from := uint64(1); from <= 100; {
		n, err := j.Read(from, 7, func(seq uint64, p []byte) error {
			got = append(got, rec{seq, string(p)})
			return nil
		})
		if err != nil || n == 0 || n > 7 {
			t.Fatalf("Read(%d, 7): %d, %v", from, n, err)
		}
		from += uint64(n)
	}
	check(t, got, want(1, 100, 100))
	check(t, readAll(t, j, 3), want(3, 100, 100))

	// fn's error stops the read; the failed record is not counted.
	boom := errors.New("boom")
	n, err := j.Read(10, 100, func(seq uint64, _ []byte) error {
		if seq == 15 {
			return boom
		}
		return nil
	})
	if n != 5 || !errors.Is(err, boom) {
		t.Fatalf("Read with failing fn: %d, %v", n, err)
	}
	check(t, readAll(t, j, 15), want(15, 100, 100))

	if _, err := j.Append(context.Background(), nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty Append: %v", err)
	}
}

func TestConcurrentAppendAndLoad(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 64 << 10, MaxBatch: 16})
	const writers, each = 32, 100
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[uint64]string{}
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := payload(w*each+i, 50+(w*7+i)%300)
				seq, err := j.Append(context.Background(), []byte(p))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				if old, dup := got[seq]; dup {
					t.Errorf("seq %d returned twice (%.20q, %.20q)", seq, old, p)
				}
				got[seq] = p
				mu.Unlock()
			}
		})
	}

	// A loader reads and releases while the appends go on.
	loaded := make(chan []rec)
	stop := make(chan struct{})
	go func() {
		var out []rec
		next := uint64(1)
		for {
			n, err := j.Read(next, 50, func(seq uint64, p []byte) error {
				if seq != next {
					return fmt.Errorf("seq %d, want %d", seq, next)
				}
				out = append(out, rec{seq, string(p)})
				next++
				return nil
			})
			if err != nil {
				t.Errorf("loader Read: %v", err)
				break
			}
			if n > 0 {
				if err := j.Release(next - 1); err != nil {
					t.Errorf("Release: %v", err)
					break
				}
				if f := j.First(); f > next {
					t.Errorf("First %d after releasing up to %d", f, next-1)
				}
				continue
			}
			select {
			case <-j.Commits():
			case <-stop:
				if next > j.Committed() {
					loaded <- out
					return
				}
			case <-time.After(time.Second):
			}
		}
		loaded <- out
	}()
	wg.Wait()
	close(stop)
	out := <-loaded
	if len(got) != writers*each || j.Committed() != writers*each {
		t.Fatalf("%d distinct seqs, Committed %d, want %d", len(got), j.Committed(), writers*each)
	}
	if len(out) != writers*each {
		t.Fatalf("loader saw %d records, want %d", len(out), writers*each)
	}
	for i, r := range out {
		if r.seq != uint64(i+1) || r.payload != got[r.seq] {
			t.Fatalf("loaded record %d: seq %d %.20q, appended %.20q", i, r.seq, r.payload, got[r.seq])
		}
	}
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("after releasing everything: %v", files)
	}
	mustClose(t, j)
}

func TestRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096}
	j := open(t, dir, opts)
	// 224 bytes a record: 18 fit in a segment.
	appendAll(t, j, payloads(1, 100, 200)...)
	wantFiles := []string{
		"00000000000000000001.journal", "00000000000000000019.journal", "00000000000000000037.journal",
		"00000000000000000055.journal", "00000000000000000073.journal", "00000000000000000091.journal",
	}
	if files := segmentFiles(t, dir); !slices.Equal(files, wantFiles) {
		t.Fatalf("segments %v, want %v", files, wantFiles)
	}
	check(t, readAll(t, j, 1), want(1, 100, 200))
	check(t, readAll(t, j, 18), want(18, 100, 200))
	check(t, readAll(t, j, 19), want(19, 100, 200))

	// Release(40) deletes the segments ending at 18 and 36, not the one
	// holding 37..54.
	if err := j.Release(40); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, dir); !slices.Equal(files, wantFiles[2:]) {
		t.Fatalf("after Release(40): %v", files)
	}
	if j.First() != 37 || j.Committed() != 100 {
		t.Fatalf("First %d Committed %d", j.First(), j.Committed())
	}
	if _, err := j.Read(36, 10, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrReleased) {
		t.Fatalf("Read of a released record: %v", err)
	}
	check(t, readAll(t, j, 37), want(37, 100, 200))

	// Release beyond Committed releases only what exists; the segment being
	// written stays.
	if err := j.Release(1000); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, dir); !slices.Equal(files, wantFiles[5:]) {
		t.Fatalf("after releasing everything: %v", files)
	}
	if j.First() != 91 {
		t.Fatalf("First %d", j.First())
	}
	mustClose(t, j)

	j = open(t, dir, opts)
	if j.First() != 91 || j.Committed() != 100 {
		t.Fatalf("reopened: First %d Committed %d", j.First(), j.Committed())
	}
	check(t, readAll(t, j, 91), want(91, 100, 200))
	if seqs := appendAll(t, j, payloads(101, 120, 200)...); seqs[0] != 101 {
		t.Fatalf("after reopen the next seq is %d", seqs[0])
	}
	check(t, readAll(t, j, 91), want(91, 120, 200))
	mustClose(t, j)
}

// A crash right after a rotation leaves an empty last segment; its name
// alone carries the sequence on.
func TestEmptyLastSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096}
	j := open(t, dir, opts)
	appendAll(t, j, payloads(1, 19, 200)...) // the 19th starts a segment
	mustClose(t, j)
	last := filepath.Join(dir, "00000000000000000019.journal")
	if err := os.WriteFile(last, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "00000000000000000001.journal")); err != nil {
		t.Fatal(err) // as if released
	}
	j = open(t, dir, opts)
	if j.First() != 19 || j.Committed() != 18 {
		t.Fatalf("First %d Committed %d", j.First(), j.Committed())
	}
	check(t, readAll(t, j, 19), nil)
	if _, err := j.Read(18, 1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrReleased) {
		t.Fatalf("Read(18): %v", err)
	}
	appendAll(t, j, payloads(19, 20, 200)...)
	check(t, readAll(t, j, 19), want(19, 20, 200))
	mustClose(t, j)
}

// An empty last segment from an earlier run with smaller segments is
// replaced when a record does not fit in it.
func TestEmptySmallSegmentReplaced(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 4096})
	mustClose(t, j)
	j = open(t, dir, Options{SegmentBytes: 8192})
	appendAll(t, j, payload(1, 5000))
	appendAll(t, j, payload(2, 100))
	check(t, readAll(t, j, 1), []rec{{1, payload(1, 5000)}, {2, payload(2, 100)}})
	mustClose(t, j)
	if files := segmentFiles(t, dir); !slices.Equal(files, []string{"00000000000000000001.journal"}) {
		t.Fatalf("segments %v", files)
	}
	j = open(t, dir, Options{SegmentBytes: 8192})
	check(t, readAll(t, j, 1), []rec{{1, payload(1, 5000)}, {2, payload(2, 100)}})
	mustClose(t, j)
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	appendAll(t, j, payloads(1, 10, 700)...)
	mustClose(t, j)
	j = open(t, dir, Options{})
	check(t, readAll(t, j, 1), want(1, 10, 700))
	if seqs := appendAll(t, j, payloads(11, 20, 700)...); seqs[0] != 11 || seqs[9] != 20 {
		t.Fatalf("seqs after reopen %v", seqs)
	}
	mustClose(t, j)
	j = open(t, dir, Options{})
	check(t, readAll(t, j, 1), want(1, 20, 700))
	mustClose(t, j)
}

// encode returns the bytes of one write of records from seq on.
func encode(seq uint64, payloads ...string) []byte {
	var b []byte
	for i, p := range payloads {
		b = appendRecord(b, seq+uint64(i), i, []byte(p))
	}
	return b
}

func TestTornTail(t *testing.T) {
	const size = 100
	end := int64(segHeaderSize + 10*(headerSize+size)) // end of records 1..10
	valid11 := encode(11, payload(11, size))
	badCRC := slices.Clone(valid11)
	badCRC[len(badCRC)-1] ^= 1
	// A torn write of two records: the first damaged, the second whole.
	torn := encode(11, payload(11, size), payload(12, size))
	torn[headerSize+size-1] ^= 1
	cases := []struct {
		name string
		tail []byte
	}{
		{"garbage", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100)},
		{"truncated record", valid11[:headerSize+size/2]},
		{"header only", valid11[:headerSize]},
		{"bad crc", badCRC},
		{"bad crc then valid", torn},
		{"seq gap", encode(12, payload(12, size))},
		{"seq repeat", encode(10, payload(10, size))},
		{"length past segment", binary.LittleEndian.AppendUint32(nil, 1<<20)},
		{"stale record after zeros", append(make([]byte, 70<<10), encode(11, payload(11, size))...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 256 << 10}
			j := open(t, dir, opts)
			appendAll(t, j, payloads(1, 10, size)...)
			mustClose(t, j)
			seg := filepath.Join(dir, "00000000000000000001.journal")
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(c.tail, end); err != nil {
				t.Fatal(err)
			}
			f.Close()

			j = open(t, dir, opts)
			check(t, readAll(t, j, 1), want(1, 10, size))
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if i := slices.IndexFunc(data[end:], func(b byte) bool { return b != 0 }); i >= 0 {
				t.Fatalf("byte %d after the recovered end is not zero", end+int64(i))
			}
			appendAll(t, j, payloads(11, 15, size)...)
			check(t, readAll(t, j, 1), want(1, 15, size))
			mustClose(t, j)

			j = open(t, dir, opts)
			check(t, readAll(t, j, 1), want(1, 15, size))
			mustClose(t, j)
		})
	}
}

func TestCorruptEarlierSegment(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		j := open(t, dir, Options{SegmentBytes: 4096})
		appendAll(t, j, payloads(1, 60, 200)...)
		mustClose(t, j)
		return dir
	}
	// Damage in a segment the writer had moved on from is no torn write:
	// the record is lost, the ones after it are kept, and the segment is
	// kept aside as it was.
	t.Run("bad byte", func(t *testing.T) {
		dir := setup(t)
		seg := filepath.Join(dir, "00000000000000000019.journal")
		data := edit(t, seg, func(data []byte) []byte {
			data[segHeaderSize+3*(headerSize+200)+headerSize+10] ^= 0x40 // record 22's payload
			return data
		})
		j := open(t, dir, Options{SegmentBytes: 4096})
		checkDamaged(t, readLost(t, j), 60, 22, 200)
		mustClose(t, j)
		if kept, err := os.ReadFile(seg + ".damaged"); err != nil || !bytes.Equal(kept, data) {
			t.Fatalf("the damaged segment is not kept aside as it was (%v)", err)
		}
	})
	t.Run("missing segment", func(t *testing.T) {
		dir := setup(t)
		if err := os.Remove(filepath.Join(dir, "00000000000000000019.journal")); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{SegmentBytes: 4096})
		if err == nil || !strings.Contains(err.Error(), "00000000000000000037.journal") {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestTooLarge(t *testing.T) {
	j := open(t, t.TempDir(), Options{SegmentBytes: 4096})
	defer mustClose(t, j)
	appendAll(t, j, payload(1, 100))
	if _, err := j.Append(context.Background(), make([]byte, 4096)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of 4096 bytes: %v", err)
	}
	// Exactly a segment's worth fits, in a segment of its own.
	const room = 4096 - segHeaderSize - headerSize
	appendAll(t, j, payload(2, room), payload(3, 100))
	check(t, readAll(t, j, 1), []rec{{1, payload(1, 100)}, {2, payload(2, room)}, {3, payload(3, 100)}})
}

func TestContextAndClose(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a canceled ctx: %v", err)
	}
	if j.Committed() != 0 {
		t.Fatalf("Committed %d", j.Committed())
	}
	appendAll(t, j, "a")
	mustClose(t, j)
	if _, err := j.Append(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := j.Read(1, 1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := j.Release(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Release after Close: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "next.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("prepared segment left behind: %v", err)
	}
}

// Appends racing Close either commit or get ErrClosed; every acknowledged
// record is there after reopening.
func TestCloseDuringAppends(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 16 << 10}
	j := open(t, dir, opts)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[uint64]string{}
	)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				p := payload(w*100000+i, 100)
				seq, err := j.Append(context.Background(), []byte(p))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked[seq] = p
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	mustClose(t, j)
	wg.Wait()
	j = open(t, dir, opts)
	defer mustClose(t, j)
	got := readAll(t, j, 1)
	if len(got) != len(acked) || len(got) == 0 {
		t.Fatalf("%d records after reopen, %d acknowledged", len(got), len(acked))
	}
	for _, r := range got {
		if acked[r.seq] != r.payload {
			t.Fatalf("record %d: %.20q, acknowledged %.20q", r.seq, r.payload, acked[r.seq])
		}
	}
}

// After a failed write the journal acknowledges nothing more until it is
// repaired (TestWriteFailureRepaired).
func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	appendAll(t, j, "a")
	if err := j.Err(); err != nil {
		t.Fatalf("Err of a healthy journal: %v", err)
	}
	// Swap the segment's file for a read-only one, so that the next write
	// fails for real.
	ro, err := os.Open(j.active.path)
	if err != nil {
		t.Fatal(err)
	}
	rw := j.active.f
	j.active.f = osFile{ro}
	defer rw.Close()
	if _, err := j.Append(context.Background(), []byte("b")); err == nil {
		t.Fatal("Append succeeded on a read-only file")
	}
	if _, err := j.Append(context.Background(), []byte("c")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append after a failure: %v", err)
	}
	if j.Committed() != 1 {
		t.Fatalf("Committed %d", j.Committed())
	}
	if err := j.Err(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Err after a failure: %v", err)
	}
	check(t, readAll(t, j, 1), []rec{{1, "a"}})
	if err := j.Close(); err == nil {
		t.Fatal("Close of a failed journal returned nil")
	}
	j = open(t, dir, Options{})
	check(t, readAll(t, j, 1), []rec{{1, "a"}})
	mustClose(t, j)
}

func TestStalePreparedSegment(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 4096})
	appendAll(t, j, "a")
	mustClose(t, j)
	if err := os.WriteFile(filepath.Join(dir, "next.tmp"), []byte("half zeroed"), 0o600); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir, Options{SegmentBytes: 4096})
	appendAll(t, j, payloads(2, 40, 200)...) // rotates into freshly prepared segments
	check(t, readAll(t, j, 2), want(2, 40, 200))
	mustClose(t, j)
}

func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{NoSync: true, SegmentBytes: 4096})
	appendAll(t, j, payloads(1, 50, 200)...)
	mustClose(t, j)
	j = open(t, dir, Options{NoSync: true, SegmentBytes: 4096})
	check(t, readAll(t, j, 1), want(1, 50, 200))
	mustClose(t, j)
}

// FuzzRecover writes a segment holding one write of valid records,
// changes it from some offset on and checks what Open recovers: every
// record before the first changed byte, then nothing but records as they
// were written or reported lost; zeros after the writer's position; and
// appends after it that read back across a reopen.
func FuzzRecover(f *testing.F) {
	f.Add(uint8(5), []byte{10, 200, 3}, uint32(100), []byte("garbage"), false)
	f.Add(uint8(3), []byte{1}, uint32(40), []byte{}, true)
	f.Add(uint8(0), []byte{0}, uint32(0), []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, false)
	f.Add(uint8(8), []byte{50, 60}, uint32(1000), []byte{0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, count uint8, sizes []byte, at uint32, tail []byte, truncate bool) {
		if len(sizes) == 0 {
			sizes = []byte{1}
		}
		n := int(count % 16)
		orig := map[uint64]string{}
		data := segmentHeader()
		var ends []int
		for i := range n {
			p := payload(i+1, 1+int(sizes[i%len(sizes)]))
			orig[uint64(i+1)] = p
			data = appendRecord(data, uint64(i+1), i, []byte(p))
			ends = append(ends, len(data))
		}
		data = append(data, make([]byte, 64)...)
		pos := int(at % uint32(len(data)+1))
		changed := append(slices.Clone(data[:pos]), tail...)
		if !truncate && len(changed) < len(data) {
			changed = append(changed, data[len(changed):]...)
		}
		// Records before the first changed byte must survive.
		diff := len(changed)
		for i := 0; i < min(len(data), len(changed)); i++ {
			if data[i] != changed[i] {
				diff = i
				break
			}
		}
		intact := 0
		for intact < n && ends[intact] <= diff {
			intact++
		}

		dir := t.TempDir()
		seg := filepath.Join(dir, "00000000000000000001.journal")
		if err := os.WriteFile(seg, changed, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := Options{SegmentBytes: 4096, NoSync: true}
		j, err := Open(dir, opts)
		if err != nil {
			if diff < segHeaderSize && strings.Contains(err.Error(), seg) && strings.Contains(err.Error(), "offset 0") {
				return // a damaged segment header with no intact record after it
			}
			t.Fatalf("Open: %v", err)
		}
		end := j.off
		got := map[uint64]string{}
		if _, err := j.Read(1, 1<<30, func(seq uint64, p []byte) error {
			want, ok := orig[seq]
			switch {
			case p == nil && seq > uint64(intact):
			case !ok || string(p) != want:
				return fmt.Errorf("record %d reads as %.20q, written as %.20q", seq, p, want)
			}
			got[seq] = string(p)
			return nil
		}); err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(got) < intact || len(got) > n || uint64(len(got)) != j.Committed() {
			t.Fatalf("recovered %d records, Committed %d; %d intact of %d", len(got), j.Committed(), intact, n)
		}
		onDisk, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(onDisk[end:], func(b byte) bool { return b != 0 }) {
			t.Fatalf("non-zero bytes after the recovered end %d", end)
		}
		seq, err := j.Append(context.Background(), []byte("after"))
		if err != nil || seq != uint64(len(got)+1) {
			t.Fatalf("Append after recovery: %d, %v", seq, err)
		}
		mustClose(t, j)
		j = open(t, dir, opts)
		got[seq] = "after"
		again := readLost(t, j)
		if len(again) != len(got) {
			t.Fatalf("%d records after a reopen, %d before", len(again), len(got))
		}
		for s, p := range again {
			if p == nil && got[s] != "" || p != nil && *p != got[s] {
				t.Fatalf("record %d changed across a reopen", s)
			}
		}
		mustClose(t, j)
	})
}

func BenchmarkAppend(b *testing.B) {
	p := []byte(payload(1, 700))
	for _, bc := range []struct {
		name   string
		noSync bool
		par    int // goroutines per GOMAXPROCS
	}{
		{"fsync/par1", false, 1},
		{"fsync/par16", false, 16},
		{"fsync/par64", false, 64},
		{"nosync/par16", true, 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := open(b, b.TempDir(), Options{NoSync: bc.noSync})
			defer mustClose(b, j)
			b.SetBytes(int64(len(p)))
			b.SetParallelism(bc.par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := j.Append(context.Background(), p); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRead reads 700-byte records in batches of 1000, as the loader
// does; ns/op is per record.
func BenchmarkRead(b *testing.B) {
	const records = 50000
	j := open(b, b.TempDir(), Options{NoSync: true})
	defer mustClose(b, j)
	p := []byte(payload(1, 700))
	for range records {
		if _, err := j.Append(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	from, total := uint64(1), 0
	for total < b.N {
		n, err := j.Read(from, min(1000, b.N-total), func(uint64, []byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		total += n
		from += uint64(n)
		if from > records {
			from = 1
		}
	}
}

// A new journal's first segment is small, so that opening one zeroes little;
// a record larger than it moves to a full-size segment.
func TestFirstSegmentIsSmall(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 4 << 20})
	st, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.journal", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != firstSegmentBytes {
		t.Fatalf("first segment is %d bytes, want %d", st.Size(), firstSegmentBytes)
	}
	big := strings.Repeat("x", 3<<20/2)
	appendAll(t, j, "a", big, "b")
	check(t, readAll(t, j, 1), []rec{{1, "a"}, {2, big}, {3, "b"}})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir, Options{SegmentBytes: 4 << 20})
	check(t, readAll(t, j, 1), []rec{{1, "a"}, {2, big}, {3, "b"}})
	j.Close()
}

// Loaded is what the reader has: a journal never numbers a record at or
// below it, and never reads the segments that hold nothing after it.
func TestLoaded(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		j := open(t, t.TempDir(), Options{Loaded: 5})
		defer mustClose(t, j)
		if j.First() != 6 || j.Committed() != 5 {
			t.Fatalf("First %d Committed %d", j.First(), j.Committed())
		}
		if seqs := appendAll(t, j, "a"); seqs[0] != 6 {
			t.Fatalf("first seq %d", seqs[0])
		}
	})
	t.Run("behind", func(t *testing.T) {
		dir := t.TempDir()
		j := open(t, dir, Options{SegmentBytes: 4096})
		appendAll(t, j, payloads(1, 30, 200)...)
		mustClose(t, j)
		j = open(t, dir, Options{SegmentBytes: 4096, Loaded: 40})
		if j.First() != 41 || j.Committed() != 40 {
			t.Fatalf("First %d Committed %d", j.First(), j.Committed())
		}
		appendAll(t, j, payloads(41, 42, 200)...)
		mustClose(t, j)
		if files := segmentFiles(t, dir); !slices.Equal(files, []string{"00000000000000000041.journal"}) {
			t.Fatalf("segments %v", files)
		}
		j = open(t, dir, Options{SegmentBytes: 4096, Loaded: 40})
		check(t, readAll(t, j, 41), want(41, 42, 200))
		mustClose(t, j)
	})
	t.Run("loaded segments go unread", func(t *testing.T) {
		dir := t.TempDir()
		j := open(t, dir, Options{SegmentBytes: 4096})
		appendAll(t, j, payloads(1, 40, 200)...) // segments from 1, 19 and 37
		mustClose(t, j)
		seg := filepath.Join(dir, "00000000000000000001.journal")
		if err := os.WriteFile(seg, []byte("not a segment"), 0o600); err != nil {
			t.Fatal(err)
		}
		j = open(t, dir, Options{SegmentBytes: 4096, Loaded: 20})
		check(t, readAll(t, j, 19), want(19, 40, 200))
		mustClose(t, j)
		if files := segmentFiles(t, dir); len(files) != 2 || files[0] != "00000000000000000019.journal" {
			t.Fatalf("segments %v", files)
		}
	})
}
