package wasmhost

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero/api"
)

// callState is what host functions know about the call in progress. It rides
// in the context wazero passes them.
type callState struct {
	base       hclog.Logger
	deliveryID string
	logger     hclog.Logger // base with the delivery id, made on first use
	pending    []byte       // the pending result, see FuncReadResult
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
	return &callState{base: p.log, deliveryID: deliveryID}
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

// instantiateHostModule exports the host functions to the plugin's runtime.
func (p *plugin) instantiateHostModule(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(HostModule)
	export := func(name string, fn api.GoModuleFunc, params ...string) {
		sig := hostImports[name]
		b.NewFunctionBuilder().
			WithGoModuleFunction(fn, sig.params, sig.results).
			WithParameterNames(params...).
			Export(name)
	}
	export(FuncLog, p.hostLog, "level", "ptr", "len")
	export(FuncNow, p.hostNow)
	export(FuncHTTP, p.hostHTTP, "ptr", "len")
	export(FuncKVGet, p.hostKVGet, "key_ptr", "key_len")
	export(FuncKVSet, p.hostKVSet, "key_ptr", "key_len", "val_ptr", "val_len")
	export(FuncSecret, p.hostSecret, "name_ptr", "name_len")
	export(FuncReadResult, p.hostReadResult, "ptr", "len")
	_, err := b.Instantiate(ctx)
	return err
}

func (p *plugin) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	truncated := n > MaxLogBytes
	if truncated {
		n = MaxLogBytes
	}
	msg := p.redact.string(toValidUTF8(read(mod, FuncLog, ptr, n)))
	if truncated {
		msg += "…"
	}
	p.state(ctx).log().Log(logLevel(level), msg)
}

func logLevel(l uint32) hclog.Level {
	switch l {
	case LogTrace:
		return hclog.Trace
	case LogDebug:
		return hclog.Debug
	case LogWarn:
		return hclog.Warn
	case LogError:
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
	name := string(read(mod, FuncSecret, uint32(stack[0]), uint32(stack[1])))
	v, ok := p.cfg.Secrets[name]
	if !ok {
		stack[0] = s.replyf(CodeNotFound, "secret %q is not granted to this plugin", name)
		return
	}
	stack[0] = s.reply(CodeOK, []byte(v))
}

func (p *plugin) hostKVGet(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	key, code, msg := p.kvKey(mod, FuncKVGet, uint32(stack[0]), uint32(stack[1]))
	if code != CodeOK {
		stack[0] = s.reply(code, []byte(msg))
		return
	}
	v, ok, err := p.kv.Get(ctx, p.name, key)
	switch {
	case err != nil:
		s.log().Warn("kv_get failed", "error", err)
		stack[0] = s.replyf(CodeFailed, "kv_get failed")
	case !ok:
		stack[0] = s.reply(CodeNotFound, nil)
	default:
		stack[0] = s.reply(CodeOK, v)
	}
}

func (p *plugin) hostKVSet(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	key, code, msg := p.kvKey(mod, FuncKVSet, uint32(stack[0]), uint32(stack[1]))
	if code != CodeOK {
		stack[0] = s.reply(code, []byte(msg))
		return
	}
	n := uint32(stack[3])
	if n > MaxValueBytes {
		stack[0] = s.replyf(CodeTooLarge, "value of %d bytes exceeds %d", n, MaxValueBytes)
		return
	}
	// Copy: the store may keep the slice, and guest memory changes.
	val := append([]byte(nil), read(mod, FuncKVSet, uint32(stack[2]), n)...)
	if err := p.kv.Put(ctx, p.name, key, val); err != nil {
		s.log().Warn("kv_set failed", "error", err)
		stack[0] = s.replyf(CodeFailed, "kv_set failed")
		return
	}
	stack[0] = s.reply(CodeOK, nil)
}

func (p *plugin) kvKey(mod api.Module, fn string, ptr, n uint32) (string, uint32, string) {
	if p.kv == nil {
		return "", CodeUnavailable, "no key-value store is configured"
	}
	if n == 0 || n > MaxKeyBytes {
		return "", CodeInvalid, fmt.Sprintf("key length %d, want 1 to %d bytes", n, MaxKeyBytes)
	}
	key := read(mod, fn, ptr, n)
	if !utf8.Valid(key) {
		return "", CodeInvalid, "key is not UTF-8"
	}
	return string(key), CodeOK, ""
}

func (p *plugin) hostReadResult(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if int(n) > len(s.pending) {
		n = uint32(len(s.pending))
	}
	if n > 0 && !mod.Memory().Write(ptr, s.pending[:n]) {
		panic(fmt.Errorf("%s: write [%d, %d) is out of memory bounds", FuncReadResult, ptr, uint64(ptr)+uint64(n)))
	}
	s.pending = nil
	stack[0] = uint64(n)
}

func (p *plugin) hostHTTP(ctx context.Context, mod api.Module, stack []uint64) {
	s := p.state(ctx)
	n := uint32(stack[1])
	if n > MaxHTTPRequestBytes {
		stack[0] = s.replyf(CodeTooLarge, "request of %d bytes exceeds %d", n, MaxHTTPRequestBytes)
		return
	}
	code, data := p.doHTTP(ctx, s, read(mod, FuncHTTP, uint32(stack[0]), n))
	stack[0] = s.reply(code, data)
}
