package sdk

// ABI v1 constants, mirrored from engine/wasmhost/abi.go, which documents
// each (as does plugins/ABI.md). A guest must not import the host package:
// it would pull wazero into the guest. The host's TestSDKMirrorsABI keeps the
// two copies equal.

// ABIVersion is the contract version this SDK speaks.
const ABIVersion = 1

// HostModule is the module name of the host functions.
const HostModule = "arbiter"

// Code is the status half of a host function's reply.
type Code uint32

// Reply codes.
const (
	CodeOK          Code = 0
	CodeNotFound    Code = 1
	CodeDenied      Code = 2
	CodeInvalid     Code = 3
	CodeTooLarge    Code = 4
	CodeTimeout     Code = 5
	CodeFailed      Code = 6
	CodeUnavailable Code = 7
)

// Level is a log level for Log.
type Level uint32

// Log levels.
const (
	LevelTrace Level = 0
	LevelDebug Level = 1
	LevelInfo  Level = 2
	LevelWarn  Level = 3
	LevelError Level = 4
)

// Limits the host enforces.
const (
	MaxLogBytes         = 4 << 10
	MaxKeyBytes         = 512
	MaxValueBytes       = 1 << 20
	MaxHTTPRequestBytes = 2 << 20
	MaxRedirects        = 5
	MaxDescribeBytes    = 64 << 10
)

// Kinds of plugin, for Info.Kind.
const (
	KindNotifier = "notifier"
	KindStore    = "store"
)
