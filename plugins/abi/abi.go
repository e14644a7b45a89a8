// Package abi is Arbiter's plugin ABI v1 as constants: the names,
// signatures, codes and limits a guest sees. plugins/ABI.md is the same
// contract in prose, for authors in any language. The host
// (engine/wasmhost) and the Go guest SDK (plugins/sdk) both build on this
// one file; it imports nothing, so guests stay small.
package abi

// ABIVersion is the version of the contract described here. The host sends it
// as "abi" in every handle input; a guest's describe output may carry the
// version it was written for, and the host refuses any other.
const ABIVersion = 1

// HostModule is the module name under which the host exports its functions.
// A guest may import only from HostModule and from "wasi_snapshot_preview1"
// (which Go's wasip1 runtime needs; it is given no files, arguments,
// sockets or environment).
const HostModule = "arbiter"

// Guest exports. A guest is a reactor: it exports "memory", FuncAlloc and
// FuncHandle, optionally FuncDescribe and FuncSelect, and optionally
// "_initialize", which the host calls once when it instantiates the module
// (Go's -buildmode=c-shared emits it). A "_start" export is never called.
const (
	// FuncAlloc returns guest memory for the host to write handle inputs
	// into.
	//
	// # Parameters
	//
	//   - size (i32): length in bytes the host needs.
	//
	// # Result
	//
	//   - ptr (i32): offset of at least size writable bytes, or zero if the
	//     guest cannot allocate them.
	//
	// The buffer belongs to the host until the next FuncAlloc call: the
	// host writes each input there, and calls FuncAlloc again only for an
	// input that does not fit, after which the old buffer is the guest's
	// again. The guest must not use the buffer for anything else meanwhile;
	// it may read it during FuncHandle. The Go SDK keeps one growing
	// buffer. Reusing the buffer saves a guest call per delivery.
	FuncAlloc = "alloc"

	// FuncHandle carries out one action.
	//
	// # Parameters
	//
	//   - ptr (i32): offset of the input JSON, as returned by FuncAlloc.
	//   - len (i32): length of the input JSON in bytes.
	//
	// # Result
	//
	//   - packed (i64): `out_ptr<<32 | out_len`, the offset and length of
	//     the output JSON in guest memory. The host copies it out before it
	//     calls the guest again, so the guest may reuse it afterwards.
	//
	// # Example
	//
	// Input, its members always in this order with "action" last, so a
	// guest can take the action without scanning it (unknown members, which
	// later revisions may add before "action", must be ignored):
	//
	//	{"abi":1,
	//	 "event":{"id":"evt_1","type":"delta.verified","endpoint":"pacspace",
	//	          "customerId":"cus_1","receivedAt":"2026-02-11T10:00:00Z"},
	//	 "deliveryId":"dlv_1","idempotencyKey":"evt_1/0/slack","attempt":1,
	//	 "config":{"webhook_url_secret":"slack_url"},
	//	 "action":{"type":"alert","reason":"period_drift","severity":"high","drift":12.5}}
	//
	// Output, written at offset 1024 with a length of 32:
	//
	//	{"status":"ok","message":"sent"}
	//
	// so the result is i64(1024<<32 | 32). Output fields: status is "ok",
	// "retry" or "fail"; message is optional text; retryAfterMs is an
	// optional delay the guest asks for before the next attempt.
	FuncHandle = "handle"

	// FuncDescribe is optional. It reports who the plugin is.
	//
	// # Parameters
	//
	// There are no parameters.
	//
	// # Result
	//
	//   - packed (i64): `out_ptr<<32 | out_len` of a JSON object:
	//
	//	{"abi":1,"name":"slack","kind":"notifier","version":"1.2.0",
	//	 "configSchema":{"type":"object",...},"maxInstances":0}
	//
	// kind is "notifier" or "store". configSchema is a JSON Schema (draft
	// 2020-12 unless it names another) the host validates the plugin's
	// config against at startup. maxInstances, if above zero, caps how many
	// instances the host runs at once: 1 makes calls strictly sequential,
	// which a store plugin with a read-modify-write on the key-value store
	// needs.
	//
	// A module holding several plugins describes the one FuncSelect
	// chose. With none chosen, it describes no plugin: it answers the names
	// it holds and why it chose none, which is how a host lists them:
	//
	//	{"abi":1,"plugins":["console","slack"],"error":"..."}
	FuncDescribe = "describe"

	// FuncSelect chooses the plugin an instance serves, in a module that
	// holds several (the bundled plugins are one such module). The host
	// calls it once per instance, right after instantiation and before
	// any other export but FuncAlloc, when the operator names an entry,
	// and never otherwise. A module holding several plugins must export
	// it; a module holding one may, and then succeeds only for its own
	// name.
	//
	// # Parameters
	//
	//   - ptr (i32): offset of the entry name, UTF-8, in a buffer
	//     returned by FuncAlloc (the one later inputs are written to).
	//   - len (i32): length of the name in bytes.
	//
	// # Result
	//
	//   - status (i32): zero if the instance now serves that plugin;
	//     anything else if the module holds no plugin of that name, and
	//     the host discards the instance.
	FuncSelect = "select"
)

// Host functions, imported from HostModule.
//
// Functions that return data return a reply: an i64 `code<<32 | len`. The
// data itself, len bytes, is held by the host as the pending result until the
// guest copies it with FuncReadResult, calls another reply-returning
// function, or returns from FuncHandle. If code is CodeOK the pending result
// is the answer; otherwise it is a UTF-8 error message, possibly empty.
//
// Rejected alternative: the host calling FuncAlloc from inside a host
// function to place the result. It needs a re-entrant guest, which Go's
// wasmexport does not promise, and makes every guest allocator reachable
// while it is in the middle of a call.
const (
	// FuncLog writes a message to Arbiter's log, under the plugin's name.
	//
	// # Parameters
	//
	//   - level (i32): one of the LogLevel constants.
	//   - ptr (i32), len (i32): the UTF-8 message. Longer than MaxLogBytes
	//     is truncated.
	//
	// # Result
	//
	// There is no result.
	FuncLog = "log"

	// FuncNow returns the host's clock.
	//
	// # Parameters
	//
	// There are no parameters.
	//
	// # Result
	//
	//   - now (i64): nanoseconds since the Unix epoch, UTC.
	FuncNow = "now"

	// FuncHTTP performs an HTTP request to a host in the plugin's
	// allow_hosts.
	//
	// # Parameters
	//
	//   - ptr (i32), len (i32): the request JSON:
	//
	//	{"method":"POST","url":"https://hooks.slack.com/services/...",
	//	 "headers":{"Content-Type":"application/json"},"body":"{...}"}
	//
	// method defaults to GET; body is text (empty for none).
	//
	// # Result
	//
	//   - reply (i64). With CodeOK, the response JSON:
	//
	//	{"status":429,"headers":{"retry-after":"30"},"body":"rate_limited"}
	//
	// Header names are lower case; a repeated header keeps its first value.
	// Redirects are followed (at most 5) only to allowed hosts. Errors:
	// CodeDenied (host not allowed, or a redirect leaving the allowlist),
	// CodeInvalid (bad request JSON or URL), CodeTooLarge (response body
	// over the limit), CodeTimeout, CodeFailed (any other transport error).
	// An HTTP error status is not an error: it is a CodeOK reply.
	FuncHTTP = "http"

	// FuncKVGet reads a key from the plugin's own key-value namespace.
	//
	// # Parameters
	//
	//   - key_ptr (i32), key_len (i32): the key, at most MaxKeyBytes.
	//
	// # Result
	//
	//   - reply (i64). With CodeOK, the value. CodeNotFound if the key is
	//     not set, CodeUnavailable if the host has no store, CodeFailed if
	//     the store failed.
	FuncKVGet = "kv_get"

	// FuncKVSet writes a key in the plugin's own key-value namespace.
	//
	// # Parameters
	//
	//   - key_ptr (i32), key_len (i32): the key, at most MaxKeyBytes.
	//   - val_ptr (i32), val_len (i32): the value, at most MaxValueBytes.
	//
	// # Result
	//
	//   - reply (i64), with no data when CodeOK.
	FuncKVSet = "kv_set"

	// FuncSecret returns a secret the operator granted this plugin by name.
	//
	// # Parameters
	//
	//   - name_ptr (i32), name_len (i32): the secret's name.
	//
	// # Result
	//
	//   - reply (i64). With CodeOK, the value. CodeNotFound if no secret of
	//     that name is granted to this plugin.
	FuncSecret = "secret"

	// FuncReadResult copies the pending result into guest memory and
	// clears it.
	//
	// # Parameters
	//
	//   - ptr (i32), len (i32): where to write, and at most how many bytes.
	//
	// # Result
	//
	//   - written (i32): bytes copied. A guest passes the len of the reply
	//     so it gets all of it.
	//
	// # Example
	//
	// secret("slack_url") returns i64(0<<32 | 40): the guest allocates 40
	// bytes at, say, offset 2048 and calls read_result(2048, 40), which
	// returns 40.
	FuncReadResult = "read_result"
)

// Reply codes, the upper 32 bits of a reply.
const (
	CodeOK          = 0 // success; the pending result is the data
	CodeNotFound    = 1 // no such key or secret
	CodeDenied      = 2 // refused by policy, such as a host outside allow_hosts
	CodeInvalid     = 3 // malformed argument
	CodeTooLarge    = 4 // argument or answer over its size limit
	CodeTimeout     = 5 // the operation ran out of time
	CodeFailed      = 6 // the operation failed; the message says why
	CodeUnavailable = 7 // the host offers no such service
)

// Log levels for FuncLog. Any other value logs at LogInfo.
const (
	LogTrace = 0
	LogDebug = 1
	LogInfo  = 2
	LogWarn  = 3
	LogError = 4
)

// Limits. They are part of the ABI: a guest may rely on them.
const (
	MaxLogBytes         = 4 << 10  // a longer FuncLog message is truncated
	MaxKeyBytes         = 512      // FuncKVGet, FuncKVSet keys
	MaxValueBytes       = 1 << 20  // FuncKVSet values
	MaxHTTPRequestBytes = 2 << 20  // FuncHTTP request JSON, body included
	MaxRedirects        = 5        // FuncHTTP redirects followed
	MaxDescribeBytes    = 64 << 10 // FuncDescribe output
)

// Output statuses of FuncHandle.
const (
	StatusOK    = "ok"
	StatusRetry = "retry"
	StatusFail  = "fail"
)

// Plugin kinds a describe output may declare.
const (
	KindNotifier = "notifier"
	KindStore    = "store"
)

// Signatures, as load errors name them.
const (
	SigAlloc      = "alloc(size i32) -> (ptr i32)"
	SigHandle     = "handle(ptr i32, len i32) -> (packed i64)"
	SigDescribe   = "describe() -> (packed i64)"
	SigSelect     = "select(ptr i32, len i32) -> (status i32)"
	SigLog        = "log(level i32, ptr i32, len i32)"
	SigNow        = "now() -> (nanos i64)"
	SigHTTP       = "http(ptr i32, len i32) -> (reply i64)"
	SigKVGet      = "kv_get(key_ptr i32, key_len i32) -> (reply i64)"
	SigKVSet      = "kv_set(key_ptr i32, key_len i32, val_ptr i32, val_len i32) -> (reply i64)"
	SigSecret     = "secret(name_ptr i32, name_len i32) -> (reply i64)"
	SigReadResult = "read_result(ptr i32, len i32) -> (written i32)"
)
