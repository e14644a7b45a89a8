package wasmhost

import (
	"bytes"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// redactor blanks a plugin's secret values out of anything the host logs or
// returns: guest log lines, stderr, result messages and error details. It is
// the second line of defence; the first is never putting a secret there.
type redactor struct {
	r *strings.Replacer // nil: no secrets
}

const redacted = "[redacted]"

// minSecretLen keeps very short values, which would blank common words, out
// of the replacer; such values are not secrets worth the name.
const minSecretLen = 4

func newRedactor(secrets Secrets) *redactor {
	var needles []string
	for _, v := range secrets {
		if len(v) >= minSecretLen {
			needles = append(needles, v)
		}
		// A webhook URL is a secret mostly through its path: redact that
		// on its own too, in case something quotes only the path.
		if u, err := url.Parse(v); err == nil && u.Host != "" && len(u.RequestURI()) >= 8 {
			needles = append(needles, u.RequestURI())
		}
	}
	if len(needles) == 0 {
		return &redactor{}
	}
	// Longest first, so a secret that contains another is blanked whole.
	slices.SortFunc(needles, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(needles))
	for _, n := range slices.Compact(needles) {
		pairs = append(pairs, n, redacted)
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (r *redactor) string(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// tailWriter receives a guest's stdout or stderr. It logs each complete line
// at debug level, redacted, and keeps the last tailBytes for the error report
// when the guest dies.
type tailWriter struct {
	log    hclog.Logger
	redact *redactor
	stream string

	mu   sync.Mutex
	line []byte
	last []byte
}

const (
	tailBytes    = 4 << 10
	maxLineBytes = abi.MaxLogBytes
)

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = append(w.last, p...)
	if len(w.last) > tailBytes {
		w.last = append(w.last[:0], w.last[len(w.last)-tailBytes:]...)
	}
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			w.line = append(w.line, rest...)
			if len(w.line) > maxLineBytes {
				w.flush()
			}
			break
		}
		w.line = append(w.line, rest[:i]...)
		w.flush()
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) flush() {
	if len(w.line) > maxLineBytes {
		w.line = w.line[:maxLineBytes]
	}
	w.log.Debug("guest output", "stream", w.stream, "line", w.redact.string(toValidUTF8(w.line)))
	w.line = w.line[:0]
}

// tail returns the last bytes written.
func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.last)
}

// panicLine returns the first line that says why a Go guest died, if any.
func (w *tailWriter) panicLine() string {
	for _, l := range strings.Split(w.tail(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") ||
			strings.HasPrefix(l, "runtime: out of memory") {
			return truncate(l, 300)
		}
	}
	return ""
}
