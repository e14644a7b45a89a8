//go:build wasip1

package sdk

import (
	"unsafe"
)

// Host imports. Strings and slices are passed as pointer and length; the
// host only reads them during the call.

//go:wasmimport arbiter log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)

//go:wasmimport arbiter now
func hostNow() int64

//go:wasmimport arbiter http
func hostHTTP(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport arbiter kv_get
func hostKVGet(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport arbiter kv_set
func hostKVSet(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32) uint64

//go:wasmimport arbiter secret
func hostSecret(ptr unsafe.Pointer, n uint32) uint64

//go:wasmimport arbiter read_result
func hostReadResult(ptr unsafe.Pointer, n uint32) uint32

func callLog(level Level, msg string) {
	if len(msg) > MaxLogBytes {
		msg = msg[:MaxLogBytes]
	}
	hostLog(uint32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func callNow() int64 { return hostNow() }

func callHTTP(req []byte) uint64 {
	return hostHTTP(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
}

func callKVGet(key string) uint64 {
	return hostKVGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)))
}

func callKVSet(key string, val []byte) uint64 {
	return hostKVSet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.SliceData(val)), uint32(len(val)))
}

func callSecret(name string) uint64 {
	return hostSecret(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)))
}

func readResult(buf []byte) uint32 {
	return hostReadResult(unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
}

// Guest exports. in is the buffer alloc hands the host, out the last output:
// both stay referenced from here, so the GC keeps them while the host uses
// them.
//
//lint:ignore U1000 used by the exports below, which staticcheck cannot see are called
var in, out, info []byte

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport alloc
func alloc(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	if uint32(cap(in)) < size {
		in = make([]byte, size)
	}
	in = in[:size]
	return addr(in)
}

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport handle
func handle(ptr, size uint32) uint64 {
	if ptr != addr(in) || size > uint32(len(in)) {
		out = encodeResult(out[:0], Fail("sdk: handle input was not allocated by alloc"))
	} else {
		out = dispatch(out[:0], in[:size])
	}
	return uint64(addr(out))<<32 | uint64(len(out))
}

//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport describe
func describe() uint64 {
	if info == nil {
		info = describeOutput()
	}
	return uint64(addr(info))<<32 | uint64(len(info))
}

// selectExport answers 0 when the module holds the plugin named in the
// alloc buffer, 1 when it does not, and 2 for a name outside that buffer.
//
//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport select
func selectExport(ptr, size uint32) uint32 {
	if ptr != addr(in) || size > uint32(len(in)) {
		return 2
	}
	info = nil // describe what is now served
	if !selectPlugin(string(in[:size])) {
		return 1
	}
	return 0
}

//lint:ignore U1000 used by the exports
func addr(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
