//go:build !wasip1

package sdk

import "time"

// Outside Wasm there is no host: these stand-ins let plugin packages build
// and vet natively. Host functions answer CodeUnavailable; Now is the local
// clock.

func callLog(Level, string) {}

func callNow() int64 { return time.Now().UnixNano() }

func callHTTP([]byte) uint64 { return uint64(CodeUnavailable) << 32 }

func callKVGet(string) uint64 { return uint64(CodeUnavailable) << 32 }

func callKVSet(string, []byte) uint64 { return uint64(CodeUnavailable) << 32 }

func callSecret(string) uint64 { return uint64(CodeUnavailable) << 32 }

func readResult([]byte) uint32 { return 0 }
