//go:build !linux

package journal

import "os"

// datasync falls back to a full fsync where fdatasync is not in syscall.
func datasync(f *os.File) error { return f.Sync() }
