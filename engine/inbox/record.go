package inbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// recordVersion leads every journal record, so that a later layout can be
// told apart from this one.
const recordVersion = 1

// encodeEvent appends ev's journal record to dst: the version byte, then
// endpoint, event id, digest and scheme as length-prefixed strings, the
// receive time in Unix microseconds, the headers as a count and
// length-prefixed pairs, and the body as the rest.
func encodeEvent(dst []byte, ev *engine.Event) []byte {
	dst = append(dst, recordVersion)
	for _, s := range [...]string{ev.Endpoint, ev.EventID, ev.Digest, string(ev.Scheme)} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendVarint(dst, ev.ReceivedAt.UnixMicro())
	dst = binary.AppendUvarint(dst, uint64(len(ev.Headers)))
	for k, v := range ev.Headers {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return append(dst, ev.Body...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errShortRecord = errors.New("record is cut short")

// decodeEvent reads a record written by encodeEvent. The event owns its
// memory: b may be reused after it returns.
func decodeEvent(b []byte) (*engine.Event, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return nil, fmt.Errorf("journal record: unknown version")
	}
	d := decoder{b: b[1:]}
	ev := &engine.Event{
		Endpoint: d.string(),
		EventID:  d.string(),
		Digest:   d.string(),
		Scheme:   engine.Scheme(d.string()),
		Status:   engine.StatusReceived,
	}
	ev.ReceivedAt = time.UnixMicro(d.varint()).UTC()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each pair takes at least two bytes
		d.err = errShortRecord
	}
	if d.err == nil && n > 0 {
		ev.Headers = make(map[string]string, n)
		for range n {
			k := d.string()
			ev.Headers[k] = d.string()
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("journal record: %w", d.err)
	}
	ev.Body = append([]byte(nil), d.b...)
	return ev, nil
}

// decoder reads length-prefixed fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 { return varintOf(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return varintOf(d, binary.Varint) }

// varintOf reads one varint with read (binary.Uvarint or binary.Varint).
func varintOf[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShortRecord
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
