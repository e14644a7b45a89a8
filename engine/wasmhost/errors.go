package wasmhost

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller of Invoke can branch on with errors.Is. Each comes
// wrapped in a *CallError that also says whether a retry may help.
var (
	// ErrUnknownPlugin: no plugin instance of that name is loaded.
	ErrUnknownPlugin = errors.New("unknown plugin")
	// ErrClosed: the Host is closed.
	ErrClosed = errors.New("host closed")
	// ErrBadRequest: the Request itself is unusable, e.g. its action is
	// not a JSON object.
	ErrBadRequest = errors.New("bad request")
	// ErrTimeout: the call ran past its deadline; the instance was replaced.
	ErrTimeout = errors.New("plugin timed out")
	// ErrTrap: the guest trapped, panicked or exited; the instance was
	// replaced.
	ErrTrap = errors.New("plugin trapped")
	// ErrMemoryLimit: the guest needed more memory than its limit; the
	// instance was replaced.
	ErrMemoryLimit = errors.New("plugin exceeded its memory limit")
	// ErrBadOutput: the guest broke the ABI: output too large, out of
	// bounds or not a valid result.
	ErrBadOutput = errors.New("plugin returned invalid output")
)

// CallError is a host-side failure of one call: the plugin did not produce a
// result. Retryable says whether trying the same delivery again may help.
type CallError struct {
	Plugin    string
	Err       error // one of the sentinel errors, or a context error
	Detail    string
	Retryable bool
}

func (e *CallError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("invoke %s: %v", e.Plugin, e.Err)
	}
	return fmt.Sprintf("invoke %s: %v: %s", e.Plugin, e.Err, e.Detail)
}

func (e *CallError) Unwrap() error { return e.Err }

// Retryable reports whether err, returned by Invoke, is worth another
// attempt. It is true for timeouts, traps and memory exhaustion, which run
// again on a fresh instance and may pass (a flaky upstream, state an old
// instance accumulated), and false for requests, plugins or outputs that will
// be just as wrong next time. Errors that are not a *CallError are not
// retryable.
func Retryable(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.Retryable
}

// retryable says which sentinels may pass on a later attempt.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrTrap), errors.Is(err, ErrMemoryLimit):
		return true
	case errors.Is(err, ErrClosed):
		return true // another replica, or this one after a restart, can deliver
	default:
		return isContextErr(err)
	}
}
