package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const crashDir = "/data/journal"

// crashRun is a journal's run on a memFS: the log of its file operations
// and what it acknowledged after how many of them.
type crashRun struct {
	fs       *memFS
	opts     Options
	mu       sync.Mutex
	payloads map[uint64]string
	acked    map[uint64]int // seq → operations logged when its Append returned
	released []release
	loadedAt int // operations logged before the Open with opts.Loaded
}

// optsAt returns the options of an Open after op k: Loaded is the
// reader's, which it only has from loadedAt on.
func (r *crashRun) optsAt(k int, m *memFS) Options {
	o := r.opts
	if k < r.loadedAt {
		o.Loaded = 0
	}
	o.fs = m
	return o
}

type release struct {
	seq uint64
	at  int // operations logged before Release began
}

func (r *crashRun) append(t testing.TB, j *Journal, p string) {
	t.Helper()
	seq, err := j.Append(context.Background(), []byte(p))
	if err != nil {
		t.Errorf("Append: %v", err)
		return
	}
	at := r.fs.ops()
	r.mu.Lock()
	r.payloads[seq], r.acked[seq] = p, at
	r.mu.Unlock()
}

func (r *crashRun) release(t testing.TB, j *Journal, seq uint64) {
	t.Helper()
	r.released = append(r.released, release{seq, r.fs.ops()})
	if err := j.Release(seq); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

// runCrashWorkload appends records alone and in concurrent groups, across
// rotations, releases some, closes, reopens and appends more, leaving the
// journal open: the last state is a crash after the last acknowledgement.
// round varies the payload sizes and the size of the groups.
func runCrashWorkload(t testing.TB, opts Options, round int) *crashRun {
	r := &crashRun{fs: newMemFS(newSnapshot("/", "/data")), payloads: map[uint64]string{}, acked: map[uint64]int{}}
	opts.fs = r.fs
	r.opts = opts
	j := open(t, crashDir, opts)
	n := 0
	next := func() string {
		n++
		return payload(n, 20+(n*(53+round*17))%(260+round%9*31))
	}
	for range 10 {
		r.append(t, j, next())
	}
	for range 3 {
		var wg sync.WaitGroup
		for range 4 + round%5 {
			p := next()
			wg.Go(func() { r.append(t, j, p) })
		}
		wg.Wait()
	}
	r.release(t, j, j.Committed()-6)
	for range 6 {
		r.append(t, j, next())
	}
	mustClose(t, j)
	j = open(t, crashDir, opts)
	for range 8 {
		r.append(t, j, next())
	}
	// The reader has loaded past the end: Open starts over after it.
	mustClose(t, j)
	loaded := j.Committed() + 2
	r.released = append(r.released, release{loaded, r.fs.ops()})
	r.opts.Loaded, opts.Loaded = loaded, loaded
	r.loadedAt = r.fs.ops()
	j = open(t, crashDir, opts)
	if j.First() != loaded+1 {
		t.Fatalf("First %d after Open with Loaded %d", j.First(), loaded)
	}
	for range 4 {
		r.append(t, j, next())
	}
	// Left open: the files are as a crash would leave them.
	t.Cleanup(func() { j.Close() })
	return r
}

// required reports whether record seq must survive a crash after op k:
// acknowledged by then, not released, and, in a journal that does not sync
// every commit, in a segment the writer had moved on from (it syncs a
// segment before it starts the next).
func (r *crashRun) required(seq uint64, k int, powerCut bool) bool {
	at, ok := r.acked[seq]
	if !ok || at > k {
		return false
	}
	for _, rel := range r.released {
		if rel.at <= k && seq <= rel.seq {
			return false
		}
	}
	if powerCut && r.opts.NoSync {
		return seq < r.rotatedPast(k)
	}
	return true
}

// rotatedPast returns the first sequence number of the newest segment
// named by op k.
func (r *crashRun) rotatedPast(k int) uint64 {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	var first uint64
	for _, o := range r.fs.log[:k] {
		if o.kind == opRename {
			var f uint64
			if _, err := fmt.Sscanf(filepath.Base(o.path2), "%020d.journal", &f); err == nil {
				first = max(first, f)
			}
		}
	}
	return first
}

// recovered opens the journal on m and checks what it holds: every record
// is one that was appended with that sequence number, and each one must
// says so is there. It returns the journal and its records.
func (r *crashRun) recovered(t *testing.T, desc string, opts Options, must func(seq uint64) bool, extra map[uint64]string) (*Journal, []rec) {
	t.Helper()
	j, err := Open(crashDir, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", desc, err)
	}
	var got []rec
	_, err = j.Read(j.First(), 1<<30, func(seq uint64, p []byte) error {
		want, ok := r.payloads[seq]
		if x, ok2 := extra[seq]; ok2 {
			want, ok = x, true
		}
		switch {
		case p == nil:
			return fmt.Errorf("record %d reads as lost", seq)
		case !ok:
			return fmt.Errorf("record %d was never appended", seq)
		case string(p) != want:
			return fmt.Errorf("record %d is %.30q, appended as %.30q", seq, p, want)
		}
		got = append(got, rec{seq, string(p)})
		return nil
	})
	if err != nil {
		j.Close()
		t.Fatalf("%s: Read: %v", desc, err)
	}
	if uint64(len(got)) != j.Committed()+1-j.First() {
		j.Close()
		t.Fatalf("%s: read %d records from %d, Committed %d", desc, len(got), j.First(), j.Committed())
	}
	for seq := range r.payloads {
		if must(seq) && (seq < j.First() || seq > j.Committed()) {
			j.Close()
			t.Fatalf("%s: record %d is lost (the journal holds %d-%d)", desc, seq, j.First(), j.Committed())
		}
	}
	for seq := range extra {
		if must(seq) && (seq < j.First() || seq > j.Committed()) {
			j.Close()
			t.Fatalf("%s: record %d, appended after recovery, is lost (the journal holds %d-%d)", desc, seq, j.First(), j.Committed())
		}
	}
	return j, got
}

// survives checks that what a recovery reported and acknowledged is still
// there after any power cut right after it: it opens the journal again on
// each state its own operations could leave, and returns how many.
func (r *crashRun) survives(t *testing.T, desc string, m *memFS, opts Options, kept []rec, extra map[uint64]string) int {
	t.Helper()
	must := func(seq uint64) bool {
		if _, ok := extra[seq]; ok {
			return !r.opts.NoSync
		}
		return len(kept) > 0 && seq >= kept[0].seq && seq <= kept[len(kept)-1].seq
	}
	states := m.powerCuts(m.ops())
	for _, st := range states {
		opts.fs = newMemFS(st.snap)
		j, _ := r.recovered(t, desc+"; then a power cut: "+st.desc, opts, must, extra)
		j.Close()
	}
	return len(states)
}

// afterRecovery appends to a recovered journal records big enough to make
// it rotate, and closes nothing: a crash follows.
func (r *crashRun) afterRecovery(t *testing.T, j *Journal) map[uint64]string {
	extra := map[uint64]string{}
	for i := range 3 {
		p := fmt.Sprintf("after-recovery-%d-%s", i, strings.Repeat("x", int(r.opts.SegmentBytes)/3))
		seq, err := j.Append(context.Background(), []byte(p))
		if err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		extra[seq] = p
	}
	return extra
}

// TestCrashPoints replays a journal's run and cuts it at every operation,
// both as a process crash (what was written stays, synced or not) and as a
// power cut (every state powerCuts builds). At each one Open must succeed
// and find every acknowledged record; what it then reports, and what is
// acknowledged after it, must survive a power cut that follows. `make
// crash` runs more rounds (ARBITER_CRASH_ROUNDS), each with other payload
// and segment sizes.
func TestCrashPoints(t *testing.T) {
	rounds := 1
	if v := os.Getenv("ARBITER_CRASH_ROUNDS"); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil {
			t.Fatalf("ARBITER_CRASH_ROUNDS: %v", err)
		}
	}
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		t.Run(mode.name, func(t *testing.T) {
			var ops, cuts, crashes, after, acked int
			for round := range rounds {
				r := runCrashWorkload(t, Options{SegmentBytes: int64(2048 + 256*(round%9)), NoSync: mode.noSync}, round)
				n := r.fs.ops()
				ops, acked = ops+n, acked+len(r.acked)
				for k := 0; k <= n; k++ {
					for _, st := range r.fs.powerCuts(k) {
						cuts++
						desc := fmt.Sprintf("round %d: power cut after op %d of %d (%s)", round, k, n, st.desc)
						opts := r.optsAt(k, newMemFS(st.snap))
						j, _ := r.recovered(t, desc, opts, func(seq uint64) bool { return r.required(seq, k, true) }, nil)
						j.Close()
					}
					crashes++
					desc := fmt.Sprintf("round %d: process crash after op %d of %d", round, k, n)
					m := r.fs.processCrash(k)
					opts := r.optsAt(k, m)
					j, got := r.recovered(t, desc, opts, func(seq uint64) bool { return r.required(seq, k, false) }, nil)
					extra := r.afterRecovery(t, j)
					after += r.survives(t, desc, m, opts, got, extra)
					j.Close()
				}
			}
			t.Logf("%d rounds, %d operations, %d records acknowledged: %d power-cut states, %d process crashes, "+
				"%d power-cut states after a recovery and appends; acknowledged records lost: 0", rounds, ops, acked, cuts, crashes, after)
		})
	}
}

var errInjected = fmt.Errorf("injected failure")

// openMem opens a journal in crashDir on m.
func openMem(t testing.TB, m *memFS, opts Options) *Journal {
	t.Helper()
	opts.fs = m
	return open(t, crashDir, opts)
}

// crashedBeforeASync returns what a process sees after another crashed
// with its fourth record written and not synced.
func crashedBeforeASync(t *testing.T) *memFS {
	m := newMemFS(newSnapshot("/", "/data", crashDir))
	j := openMem(t, m, Options{SegmentBytes: 4096})
	appendAll(t, j, payloads(1, 3, 100)...)
	m.setFail(func(o op) error {
		if o.kind == opSync {
			return errInjected
		}
		return nil
	})
	if _, err := j.Append(context.Background(), []byte(payload(4, 100))); err == nil {
		t.Fatal("Append succeeded without its sync")
	}
	j.Close()
	return m.processCrash(m.ops())
}

// A record the crashed process wrote but never synced is visible to the
// next process; if Open takes it as committed, Open must make it durable,
// or a power cut afterwards takes back a record that was reported (and
// loaded into the store) as committed.
func TestOpenSyncsTheTailItInherits(t *testing.T) {
	m := crashedBeforeASync(t)
	j := openMem(t, m, Options{SegmentBytes: 4096})
	committed := j.Committed()
	cut := m.powerCut()
	j.Close()
	j = openMem(t, cut, Options{SegmentBytes: 4096})
	defer j.Close()
	if j.Committed() != committed {
		t.Fatalf("Open reported %d records committed; after a power cut %d are there", committed, j.Committed())
	}
}

// The same inherited tail, with the next process's first record too big
// for the segment: the rotation must not leave the old segment's tail
// unsynced behind a new segment.
func TestRotationSyncsTheOldSegment(t *testing.T) {
	m := crashedBeforeASync(t)
	j := openMem(t, m, Options{SegmentBytes: 4096})
	committed := j.Committed()
	appendAll(t, j, payload(5, 3700))
	cut := m.powerCut()
	j.Close()
	j = openMem(t, cut, Options{SegmentBytes: 4096})
	defer j.Close()
	if j.Committed() != committed+1 {
		t.Fatalf("after a power cut Committed is %d, want %d", j.Committed(), committed+1)
	}
}

// A process that crashed between renaming a new segment and syncing the
// directory leaves the name in the page cache only. A record the next
// process acknowledges in that segment must not be lost to a power cut
// that turns the segment back into next.tmp.
func TestOpenSyncsTheNamesItInherits(t *testing.T) {
	m := newMemFS(newSnapshot("/", "/data", crashDir))
	j := openMem(t, m, Options{SegmentBytes: 4096})
	appendAll(t, j, payloads(1, 18, 200)...) // 18 fit in the first segment
	renamed := false
	m.setFail(func(o op) error {
		if o.kind == opRename {
			renamed = true
		}
		if renamed && o.kind == opSyncDir {
			return errInjected
		}
		return nil
	})
	if _, err := j.Append(context.Background(), []byte(payload(19, 600))); err == nil {
		t.Fatal("Append succeeded without the directory sync")
	}
	j.Close()

	m = m.processCrash(m.ops())
	j = openMem(t, m, Options{SegmentBytes: 4096})
	seq := appendAll(t, j, payload(19, 600))[0]
	cut := m.powerCut()
	j.Close()
	j = openMem(t, cut, Options{SegmentBytes: 4096})
	defer j.Close()
	if j.Committed() < seq {
		t.Fatalf("record %d, acknowledged after the restart, is lost to a power cut: Committed %d", seq, j.Committed())
	}
}

// The journal directory's own entry must be durable before a record in it
// is acknowledged.
func TestOpenSyncsTheParentOfANewDirectory(t *testing.T) {
	m := newMemFS(newSnapshot("/", "/data"))
	j := openMem(t, m, Options{SegmentBytes: 4096})
	appendAll(t, j, "a")
	cut := m.powerCut()
	j.Close()
	j = openMem(t, cut, Options{SegmentBytes: 4096})
	defer j.Close()
	check(t, readAll(t, j, 1), []rec{{1, "a"}})
}

// Without a sync per commit, the writer still syncs a segment before it
// moves to the next: a power cut may then only take the last segment's
// tail, and Open starts.
func TestNoSyncRotationSyncsTheOldSegment(t *testing.T) {
	m := newMemFS(newSnapshot("/", "/data", crashDir))
	opts := Options{SegmentBytes: 4096, NoSync: true}
	j := openMem(t, m, opts)
	appendAll(t, j, payloads(1, 20, 200)...) // 18 fit in the first segment
	j2 := openMem(t, m.powerCut(), opts)
	defer j2.Close()
	check(t, readAll(t, j2, 1), want(1, 18, 200))
	j.Close()
}
