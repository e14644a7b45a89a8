package journal

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/tmpfs"
)

// waitUp waits until the journal accepts appends again.
func waitUp(t *testing.T, j *Journal) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); j.Err() != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the journal was not repaired: %v", j.Err())
		}
	}
}

// A write or sync that fails (a full disk) refuses appends, which wrap
// ErrUnavailable, until the writer has zeroed what the failure left and
// synced; then appends resume, numbered on from the last acknowledged
// record, and the failed records never reappear, after a restart or a
// power cut either.
func TestWriteFailureRepaired(t *testing.T) {
	for _, c := range []struct {
		name   string
		fail   opKind
		noSync bool
	}{
		{"write", opWrite, false},
		{"sync", opSync, false},
		{"rotation sync without a sync per commit", opSync, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMemFS(newSnapshot("/", "/data", crashDir))
			opts := Options{SegmentBytes: 4096, NoSync: c.noSync, RetryInterval: time.Millisecond}
			j := openMem(t, m, opts)
			defer j.Close()
			var failing atomic.Bool
			m.setFail(func(o op) error {
				if failing.Load() && o.kind == c.fail {
					return errInjected
				}
				return nil
			})
			appendAll(t, j, payloads(1, 10, 200)...)
			failing.Store(true)
			var err error
			for i := 11; err == nil; i++ { // without a sync per commit, only a rotation syncs
				_, err = j.Append(context.Background(), []byte(payload(i, 200)))
			}
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBroken) {
				t.Fatalf("Append: %v", err)
			}
			acked := j.Committed()
			if _, err := j.Append(context.Background(), []byte("refused")); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Append while unavailable: %v", err)
			}
			failing.Store(false)
			waitUp(t, j)
			seq := appendAll(t, j, "after")[0]
			if seq != acked+1 {
				t.Fatalf("the first record after the repair is %d, want %d", seq, acked+1)
			}
			wantRecs := append(want(1, int(acked), 200), rec{seq, "after"})
			check(t, readAll(t, j, 1), wantRecs)
			for _, st := range m.powerCuts(m.ops()) {
				if c.noSync {
					break // a power cut may take what was not synced
				}
				j := openMem(t, newMemFS(st.snap), opts)
				check(t, readAll(t, j, 1), wantRecs)
				j.Close()
			}
			mustClose(t, j)
			j = openMem(t, m, opts)
			check(t, readAll(t, j, 1), wantRecs)
		})
	}
}

// A segment that no longer holds what was committed cannot be repaired in
// place: appends then wrap ErrBroken for good, and a restart's Open
// recovers what is there.
func TestBrokenAfterAFailure(t *testing.T) {
	m := newMemFS(newSnapshot("/", "/data", crashDir))
	opts := Options{SegmentBytes: 4096, RetryInterval: time.Millisecond}
	j := openMem(t, m, opts)
	appendAll(t, j, payloads(1, 10, 200)...)
	var failing atomic.Bool
	failing.Store(true)
	m.setFail(func(o op) error {
		if failing.Load() && o.kind == opWrite {
			return errInjected
		}
		return nil
	})
	if _, err := j.Append(context.Background(), []byte("b")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append: %v", err)
	}
	// What the failure took: a committed record's bytes.
	m.mu.Lock()
	m.cur.data[m.cur.names[crashDir+"/00000000000000000001.journal"]][segHeaderSize+headerSize+3] ^= 1
	m.mu.Unlock()
	failing.Store(false)
	for deadline := time.Now().Add(10 * time.Second); !errors.Is(j.Err(), ErrBroken); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not broken: %v", j.Err())
		}
	}
	if _, err := j.Append(context.Background(), []byte("c")); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append once broken: %v", err)
	}
	j.Close()
	j = openMem(t, m, opts)
	defer j.Close()
	checkDamaged(t, readLost(t, j), 10, 1, 200)
}

// A full disk, for real: a small tmpfs, filled. The journal refuses
// appends when it cannot start its next segment, and takes them again by
// itself once space returns; every acknowledged record is there after a
// reopen.
func TestDiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 1<<20)
	opts := Options{SegmentBytes: 64 << 10, RetryInterval: time.Millisecond}
	j := open(t, filepath.Join(dir, "journal"), opts)
	defer j.Close()
	free := tmpfs.Fill(t, dir)
	var acked []rec
	var err error
	for i := 1; err == nil; i++ {
		var seq uint64
		if seq, err = j.Append(context.Background(), []byte(payload(i, 1000))); err == nil {
			acked = append(acked, rec{seq, payload(i, 1000)})
		}
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if len(acked) < 50 {
		t.Fatalf("only %d records fit in the first segment", len(acked))
	}
	time.Sleep(10 * time.Millisecond) // repairs are tried, and fail
	if !errors.Is(j.Err(), ErrUnavailable) {
		t.Fatalf("Err while the disk is full: %v", j.Err())
	}
	free()
	waitUp(t, j)
	for i := range 100 {
		seq := appendAll(t, j, payload(1000+i, 1000))[0]
		acked = append(acked, rec{seq, payload(1000+i, 1000)})
	}
	check(t, readAll(t, j, 1), acked)
	mustClose(t, j)
	j = open(t, filepath.Join(dir, "journal"), opts)
	check(t, readAll(t, j, 1), acked)
}
