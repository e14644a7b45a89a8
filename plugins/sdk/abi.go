package sdk

import "github.com/arbiter-dev/arbiter/plugins/abi"

// The ABI v1 values a Go guest needs, typed for the SDK's API. They are
// defined once, in plugins/abi, which the host builds on too.

// ABIVersion is the contract version this SDK speaks.
const ABIVersion = abi.ABIVersion

// HostModule is the module name of the host functions.
const HostModule = abi.HostModule

// Code is the status half of a host function's reply.
type Code uint32

// Reply codes.
const (
	CodeOK          Code = abi.CodeOK
	CodeNotFound    Code = abi.CodeNotFound
	CodeDenied      Code = abi.CodeDenied
	CodeInvalid     Code = abi.CodeInvalid
	CodeTooLarge    Code = abi.CodeTooLarge
	CodeTimeout     Code = abi.CodeTimeout
	CodeFailed      Code = abi.CodeFailed
	CodeUnavailable Code = abi.CodeUnavailable
)

// Level is a log level for Log.
type Level uint32

// Log levels.
const (
	LevelTrace Level = abi.LogTrace
	LevelDebug Level = abi.LogDebug
	LevelInfo  Level = abi.LogInfo
	LevelWarn  Level = abi.LogWarn
	LevelError Level = abi.LogError
)

// Limits the host enforces.
const (
	MaxLogBytes         = abi.MaxLogBytes
	MaxKeyBytes         = abi.MaxKeyBytes
	MaxValueBytes       = abi.MaxValueBytes
	MaxHTTPRequestBytes = abi.MaxHTTPRequestBytes
	MaxRedirects        = abi.MaxRedirects
	MaxDescribeBytes    = abi.MaxDescribeBytes
)

// Kinds of plugin, for Info.Kind.
const (
	KindNotifier = abi.KindNotifier
	KindStore    = abi.KindStore
)
