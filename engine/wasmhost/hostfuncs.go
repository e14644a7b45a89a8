package wasmhost

import (
	"context"
	"fmt"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// callState is what host functions know about the call in progress. It rides
// in the context wazero passes them.
type callState struct {
	plugin     *plugin // whose call it is: plugins may share a runtime
	base       hclog.Logger
	deliveryID string
	logger     hclog.Logger // base with the delivery id, made on first use
	pending    []byte       // the pending result, see abi.FuncReadResult
}

// log returns the plugin's logger with the call's delivery id attached.
func (s *callState) log() hclog.Logger {
	if s.logger == nil {
		s.logger = s.base
		if s.deliveryID != "" {
			s.logger = s.base.With("delivery", s.deliveryID)
		}
	}
	return s.logger
}

type stateKey struct{}

func withState(ctx context.Context, s *callState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

func (p *plugin) newState(deliveryID string) *callState {
	return &callState{plugin: p, base: p.log, deliveryID: deliveryID}
}

func (p *plugin) state(ctx context.Context) *callState {
	if s, ok := ctx.Value(stateKey{}).(*callState); ok {
		return s
	}
	return p.newState("")
}

// reply sets the pending result and packs code and its length.
func (s *callState) reply(code uint32, data []byte) uint64 {
	s.pending = data
	return uint64(code)<<32 | uint64(uint32(len(data)))
}

func (s *callState) replyf(code uint32, format string, args ...any) uint64 {
	return s.reply(code, fmt.Appendf(nil, format, args...))
}

// read copies n bytes of guest memory at ptr. An out-of-range pointer is a
// guest bug: the panic becomes a trap of the calling guest.
func read(mod api.Module, fn string, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%s: read [%d, %d) is out of memory bounds", fn, ptr, uint64(ptr)+uint64(n)))
	}
	return b
}

// instantiateHostModule exports the host functions to a runtime. The
// plugins sharing the runtime share them: each call runs as the plugin
// whose call state rides in its context, with that plugin's allowlist,
// secrets and key-value scope.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	export := func(name string, fn func(*plugin, context.Context, api.Module, []uint64), params ...string) {
		sig := hostImports[name]
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				s, ok := ctx.Value(stateKey{}).(*callState)
				if !ok {
					panic(fmt.Errorf("%s: called outside a plugin call", name))
				}
				fn(s.plugin, ctx, mod, stack)
			}), sig.params, sig.results).
			WithParameterNames(params...).
			Export(name)
	}
	export(abi.FuncLog, (*plugin).hostLog, "level", "ptr", "len")
	export(abi.FuncNow, (*plugin).hostNow)
	export(abi.FuncHTTP, (*plugin).hostHTTP, "ptr", "len")
	export(abi.FuncKVGet, (*plugin).hostKVGet, "key_ptr", "key_len")
	export(abi.FuncKVSet, (*plugin).hostKVSet, "key_ptr", "key_len", "val_ptr", "val_len")
	export(abi.FuncSecret, (*plugin).hostSecret, "name_ptr", "name_len")
	export(abi.FuncReadResult, (*plugin).hostReadResult, "ptr", "len")
	_, err := b.Instantiate(ctx)
	return err
}

func (p *plugin) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	truncated := n > abi.MaxLogBytes
	if truncated {
		n = abi.MaxLogBytes
	}
	msg := p.redact.string(toValidUTF8(read(mod, abi.FuncLog, ptr, n)))
	if truncated {
		msg += "…"
	}
	p.state(ctx).log().Log(logLevel(level), msg)
}

func logLevel(l uint32) hclog.Level {
	switch l {
	case abi.LogTrace:
		return hclog.Trace
	case abi.LogDebug:
		return hclog.Debug
	case abi.LogWarn:
		return hclog.Warn
	case abi.LogError:
		return hclog.Error
	default:
		return hclog.Info
	}
}

func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b)))
}

func (p *plugin) hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(p.now().UnixNano())
}

func (p *plugin) hostSecret(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	name := string(read(mod, abi.FuncSecret, uint32(stack[0]), uint32(stack[1])))
	v, ok := p.cfg.Secrets[name]
	if !ok {
		stack[0] = s.replyf(abi.CodeNotFound, "secret %q is not granted to this plugin", name)
		return
	}
	stack[0] = s.reply(abi.CodeOK, []byte(v))
}

func (p *plugin) hostKVGet(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	key, code, msg := p.kvKey(mod, abi.FuncKVGet, uint32(stack[0]), uint32(stack[1]))
	if code != abi.CodeOK {
		stack[0] = s.reply(code, []byte(msg))
		return
	}
	v, ok, err := p.kv.Get(ctx, p.name, key)
	switch {
	case err != nil:
		s.log().Warn("kv_get failed", "error", err)
		stack[0] = s.replyf(abi.CodeFailed, "kv_get failed")
	case !ok:
		stack[0] = s.reply(abi.CodeNotFound, nil)
	default:
		stack[0] = s.reply(abi.CodeOK, v)
	}
}

func (p *plugin) hostKVSet(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	key, code, msg := p.kvKey(mod, abi.FuncKVSet, uint32(stack[0]), uint32(stack[1]))
	if code != abi.CodeOK {
		stack[0] = s.reply(code, []byte(msg))
		return
	}
	n := uint32(stack[3])
	if n > abi.MaxValueBytes {
		stack[0] = s.replyf(abi.CodeTooLarge, "value of %d bytes exceeds %d", n, abi.MaxValueBytes)
		return
	}
	// Copy: the store may keep the slice, and guest memory changes.
	val := append([]byte(nil), read(mod, abi.FuncKVSet, uint32(stack[2]), n)...)
	if err := p.kv.Put(ctx, p.name, key, val); err != nil {
		s.log().Warn("kv_set failed", "error", err)
		stack[0] = s.replyf(abi.CodeFailed, "kv_set failed")
		return
	}
	stack[0] = s.reply(abi.CodeOK, nil)
}

func (p *plugin) kvKey(mod api.Module, fn string, ptr, n uint32) (string, uint32, string) {
	if p.kv == nil {
		return "", abi.CodeUnavailable, "no key-value store is configured"
	}
	if n == 0 || n > abi.MaxKeyBytes {
		return "", abi.CodeInvalid, fmt.Sprintf("key length %d, want 1 to %d bytes", n, abi.MaxKeyBytes)
	}
	key := read(mod, fn, ptr, n)
	if !utf8.Valid(key) {
		return "", abi.CodeInvalid, "key is not UTF-8"
	}
	return string(key), abi.CodeOK, ""
}

func (p *plugin) hostReadResult(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if int(n) > len(s.pending) {
		n = uint32(len(s.pending))
	}
	if n > 0 && !mod.Memory().Write(ptr, s.pending[:n]) {
		panic(fmt.Errorf("%s: write [%d, %d) is out of memory bounds", abi.FuncReadResult, ptr, uint64(ptr)+uint64(n)))
	}
	s.pending = nil
	stack[0] = uint64(n)
}

func (p *plugin) hostHTTP(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	n := uint32(stack[1])
	if n > abi.MaxHTTPRequestBytes {
		stack[0] = s.replyf(abi.CodeTooLarge, "request of %d bytes exceeds %d", n, abi.MaxHTTPRequestBytes)
		return
	}
	code, data := p.doHTTP(ctx, s, read(mod, abi.FuncHTTP, uint32(stack[0]), n))
	stack[0] = s.reply(code, data)
}
