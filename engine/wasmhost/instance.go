package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/arbiter-dev/arbiter/plugins/abi"
	"github.com/tetratelabs/wazero/api"
)

// instance is one initialized guest. It serves one call at a time.
type instance struct {
	mod      api.Module
	mem      api.Memory
	alloc    api.Function
	handle   api.Function
	describe api.Function
	sel      api.Function // the select export
	stderr   *tailWriter
	calls    int
	buf      []byte    // input JSON, reused between calls
	stack    [2]uint64 // params and results, reused between calls
	inPtr    uint32    // the input buffer alloc last returned
	inCap    uint32    // and its size
}

// newInstance instantiates the compiled module, running _initialize, and
// selects the plugin's entry, if it has one, within the plugin's call
// timeout.
func (p *plugin) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ctx = withState(ctx, p.newState(""))
	stderr := &tailWriter{log: p.log, redact: p.redact, stream: "stderr"}
	stdout := &tailWriter{log: p.log, redact: p.redact, stream: "stdout"}
	mod, err := p.mod.rt.InstantiateModule(ctx, p.mod.compiled, p.modConfig.WithStdout(stdout).WithStderr(stderr))
	if err != nil {
		if why := stderr.panicLine(); why != "" {
			err = fmt.Errorf("%w: %s", err, why)
		}
		return nil, err
	}
	p.stats.instantiations.Add(1)
	in := &instance{
		mod:      mod,
		mem:      mod.Memory(),
		alloc:    mod.ExportedFunction(abi.FuncAlloc),
		handle:   mod.ExportedFunction(abi.FuncHandle),
		describe: mod.ExportedFunction(abi.FuncDescribe),
		sel:      mod.ExportedFunction(abi.FuncSelect),
		stderr:   stderr,
	}
	if p.cfg.Entry != "" {
		if err := p.selectEntry(ctx, in); err != nil {
			in.close(ctx)
			return nil, err
		}
	}
	return in, nil
}

func (in *instance) close(ctx context.Context) {
	_ = in.mod.Close(ctx)
}

// errBadOutput marks an ABI violation found by the host, not a trap.
var errBadOutput = errors.New("bad output")

// allocGranule rounds input buffer requests up, so that inputs of similar
// size reuse one buffer.
const allocGranule = 1 << 10

// callHandle writes input into guest memory and calls handle. It returns a
// copy of the output.
func (in *instance) callHandle(ctx context.Context, input []byte, maxOut int) ([]byte, error) {
	if err := in.write(ctx, input); err != nil {
		return nil, err
	}
	s := in.stack[:]
	s[0], s[1] = uint64(in.inPtr), uint64(len(input))
	if err := in.handle.CallWithStack(ctx, s); err != nil {
		return nil, err
	}
	return in.readPacked(s[0], maxOut, abi.FuncHandle)
}

// callSelect writes name into guest memory and calls select, returning its
// status.
func (in *instance) callSelect(ctx context.Context, name string) (uint32, error) {
	if err := in.write(ctx, []byte(name)); err != nil {
		return 0, err
	}
	s := in.stack[:]
	s[0], s[1] = uint64(in.inPtr), uint64(len(name))
	if err := in.sel.CallWithStack(ctx, s); err != nil {
		return 0, err
	}
	return uint32(s[0]), nil
}

// write copies input to the buffer at in.inPtr. The buffer alloc returned
// is reused while inputs fit (see abi.FuncAlloc), which saves a guest call
// per delivery.
func (in *instance) write(ctx context.Context, input []byte) error {
	s := in.stack[:1]
	if uint64(len(input)) > uint64(in.inCap) {
		size := (uint64(len(input)) + allocGranule - 1) &^ (allocGranule - 1)
		s[0] = size
		if err := in.alloc.CallWithStack(ctx, s); err != nil {
			return err
		}
		in.inPtr, in.inCap = uint32(s[0]), 0
		if in.inPtr == 0 {
			return fmt.Errorf("%w: alloc(%d) returned 0", errBadOutput, size)
		}
		if uint64(in.inPtr)+size > uint64(in.mem.Size()) {
			return fmt.Errorf("%w: alloc(%d) returned %d, out of memory bounds", errBadOutput, size, in.inPtr)
		}
		in.inCap = uint32(size)
	}
	if !in.mem.Write(in.inPtr, input) {
		return fmt.Errorf("%w: input buffer at %d is out of memory bounds", errBadOutput, in.inPtr)
	}
	return nil
}

// callDescribe calls describe and returns a copy of its output.
func (in *instance) callDescribe(ctx context.Context) ([]byte, error) {
	s := in.stack[:1]
	if err := in.describe.CallWithStack(ctx, s); err != nil {
		return nil, err
	}
	return in.readPacked(s[0], abi.MaxDescribeBytes, abi.FuncDescribe)
}

func (in *instance) readPacked(packed uint64, max int, fn string) ([]byte, error) {
	ptr, n := uint32(packed>>32), uint32(packed)
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %s output of %d bytes exceeds the limit of %d", errBadOutput, fn, n, max)
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: %s output [%d, %d) is out of memory bounds", errBadOutput, fn, ptr, uint64(ptr)+uint64(n))
	}
	return bytes.Clone(b), nil
}

// outOfMemory guesses whether a failed call ran out of memory: the Go
// runtime says so on stderr; other guests trap near the limit.
func (in *instance) outOfMemory(limitBytes uint64) bool {
	if strings.Contains(in.stderr.tail(), "out of memory") {
		return true
	}
	const slack = 64 * 65536 // a Go heap arena: the smallest step it grows by
	return in.mem != nil && uint64(in.mem.Size())+slack > limitBytes
}

// pool holds a plugin's instances. Its channel has one token per allowed
// instance: an idle instance, or nil for a slot with none yet, filled on
// demand. A call takes a token and always gives one back, so close can wait
// for all of them.
type pool struct {
	slots chan *instance
	done  chan struct{}
	once  sync.Once
}

// newPool makes a pool of size slots, the first holding first.
func newPool(size int, first *instance) *pool {
	p := &pool{slots: make(chan *instance, size), done: make(chan struct{})}
	p.slots <- first
	for range size - 1 {
		p.slots <- nil
	}
	return p
}

// get takes an idle instance, or instantiates one in an empty slot.
func (po *pool) get(ctx context.Context, p *plugin) (*instance, error) {
	select {
	case <-po.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case in := <-po.slots:
		select {
		case <-po.done:
			po.slots <- in
			return nil, ErrClosed
		default:
		}
		if in != nil {
			return in, nil
		}
		in, err := p.newInstance(ctx)
		if err != nil {
			po.slots <- nil
			return nil, err
		}
		return in, nil
	}
}

// put returns a healthy instance to its slot.
func (po *pool) put(in *instance) { po.slots <- in }

// discard closes in and frees its slot.
func (po *pool) discard(in *instance) {
	in.close(context.Background())
	po.slots <- nil
}

// close refuses new calls and closes instances as they come back, until all
// are back or ctx is done.
func (po *pool) close(ctx context.Context) {
	po.once.Do(func() { close(po.done) })
	for range cap(po.slots) {
		select {
		case in := <-po.slots:
			if in != nil {
				in.close(context.WithoutCancel(ctx))
			}
		case <-ctx.Done():
			return
		}
	}
}
