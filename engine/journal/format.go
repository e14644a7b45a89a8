package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The on-disk format (version 2; see the package doc).
const (
	// segHeaderSize is the segment header: the magic, the version and a
	// CRC-32C of both.
	segHeaderSize = 16
	// headerSize is a record's header: length, CRC-32C, seq, lead, kind.
	headerSize = 24
	// legacyHeaderSize is a version 1 record's header: length, CRC-32C of
	// seq and payload, seq. Version 1 segments have no segment header.
	legacyHeaderSize = 16
	// minRecord is the smallest record on disk: a header and one byte.
	minRecord = headerSize + 1

	formatVersion = 2
)

var segMagic = [8]byte{'A', 'R', 'B', 'J', 'R', 'N', 'L', 0}

// Record kinds.
const (
	// kindData holds a payload; lead counts the records before it in the
	// same write, which tells a torn last write from damage before it.
	kindData = 0
	// kindLost stands for lead records, from seq on, that recovery found
	// damaged; length counts the damaged bytes it covers, which its CRC
	// does not.
	kindLost = 1
	// kindClose marks a clean Close; seq is the next record's.
	kindClose = 2
)

// header is a record's header.
type header struct {
	length uint32
	seq    uint64
	lead   uint32
	kind   uint32
}

// size is the record's size on disk.
func (h header) size(legacy bool) int64 {
	if legacy {
		return legacyHeaderSize + int64(h.length)
	}
	return headerSize + int64(h.length)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of a record's header but its CRC field, and of
// its payload: covering seq means a stale record from an earlier pass can
// never pass for a new one, covering the length that a damaged length is
// never read as the end of the data.
func checksum(hdr []byte, payload []byte) uint32 {
	c := crc32.Update(crc32.Checksum(hdr[0:4], castagnoli), castagnoli, hdr[8:headerSize])
	return crc32.Update(c, castagnoli, payload)
}

// legacyChecksum is version 1's: seq and payload only.
func legacyChecksum(hdr []byte, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(hdr[8:legacyHeaderSize], castagnoli), castagnoli, payload)
}

// appendRecord appends a data record; lead is how many records of the same
// write precede it.
func appendRecord(buf []byte, seq uint64, lead int, payload []byte) []byte {
	return appendHeader(buf, header{length: uint32(len(payload)), seq: seq, lead: uint32(lead), kind: kindData}, payload)
}

// appendHeader appends a record of h; payload is covered by the CRC and
// appended after the header.
func appendHeader(buf []byte, h header, payload []byte) []byte {
	at := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, h.length)
	buf = binary.LittleEndian.AppendUint32(buf, 0) // the CRC, once the rest is in place
	buf = binary.LittleEndian.AppendUint64(buf, h.seq)
	buf = binary.LittleEndian.AppendUint32(buf, h.lead)
	buf = binary.LittleEndian.AppendUint32(buf, h.kind)
	binary.LittleEndian.PutUint32(buf[at+4:], checksum(buf[at:at+headerSize], payload))
	return append(buf, payload...)
}

func segmentHeader() []byte {
	b := append(segMagic[:0:0], segMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// validSegmentHeader reports whether b starts with a version 2 segment
// header.
func validSegmentHeader(b []byte) bool {
	return len(b) >= segHeaderSize && [8]byte(b[:8]) == segMagic &&
		binary.LittleEndian.Uint32(b[8:]) == formatVersion &&
		binary.LittleEndian.Uint32(b[12:]) == crc32.Checksum(b[:12], castagnoli)
}

var (
	// errEnd reports an all-zero header: the end of the written data.
	errEnd = errors.New("end of data")
	// errDamaged is wrapped by every error about bytes that are not a
	// record where one was due.
	errDamaged = errors.New("damaged record")
)

func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errDamaged}, args...)...)
}

// reader reads records; it keeps its buffers between calls.
type reader struct {
	br      *bufio.Reader
	hdr     [headerSize]byte
	payload []byte
	legacy  bool
}

// reset starts reading f at off; size is the segment's size.
func (r *reader) reset(f io.ReaderAt, off, size int64, legacy bool) {
	sr := io.NewSectionReader(f, off, size-off)
	if r.br == nil {
		// Sized for the segment: tests open many small journals.
		r.br = bufio.NewReaderSize(sr, int(min(256<<10, size)))
	} else {
		r.br.Reset(sr)
	}
	r.legacy = legacy
}

// next reads the record at the reader's position and returns its header
// and payload (nil but for data; valid until the next call). room is how
// many bytes the segment has left from there. A damaged record is an error
// wrapping errDamaged; the caller checks the sequence number.
func (r *reader) next(room int64) (header, []byte, error) {
	hs := int64(headerSize)
	if r.legacy {
		hs = legacyHeaderSize
	}
	if room < hs {
		return header{}, nil, errEnd // too little room even for a header: the writer rotated
	}
	hdr := r.hdr[:hs]
	if _, err := io.ReadFull(r.br, hdr); err != nil {
		return header{}, nil, readErr(err)
	}
	h := header{length: binary.LittleEndian.Uint32(hdr[0:]), seq: binary.LittleEndian.Uint64(hdr[8:])}
	if r.legacy {
		if h.length == 0 {
			return header{}, nil, errEnd
		}
	} else {
		h.lead, h.kind = binary.LittleEndian.Uint32(hdr[16:]), binary.LittleEndian.Uint32(hdr[20:])
		if h.length == 0 && h.seq == 0 && h.lead == 0 && h.kind == 0 && binary.LittleEndian.Uint32(hdr[4:]) == 0 {
			return header{}, nil, errEnd
		}
	}
	if int64(h.length) > room-hs {
		return h, nil, damaged("length %d runs past the end of the segment", h.length)
	}
	var p []byte
	switch h.kind {
	case kindData:
		if h.length == 0 {
			return h, nil, damaged("zero length")
		}
		if cap(r.payload) < int(h.length) {
			r.payload = make([]byte, h.length)
		}
		p = r.payload[:h.length]
		if _, err := io.ReadFull(r.br, p); err != nil {
			return h, nil, readErr(err)
		}
	case kindLost:
		if h.lead == 0 {
			return h, nil, damaged("a lost record that stands for none")
		}
		if _, err := r.br.Discard(int(h.length)); err != nil {
			return h, nil, readErr(err)
		}
	case kindClose:
		if h.length != 0 {
			return h, nil, damaged("close marker of length %d", h.length)
		}
	default:
		return h, nil, damaged("unknown kind %d", h.kind)
	}
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if r.legacy && legacyChecksum(hdr, p) != sum || !r.legacy && checksum(hdr, p) != sum {
		return h, nil, damaged("checksum mismatch")
	}
	return h, p, nil
}

// readErr tells a segment cut short, which is damage, from a failed read.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return damaged("short read: %v", err)
	}
	return err
}

// parseAt reads a version 2 record whose bytes start b, for recovery's
// search for the next intact record after damage.
func parseAt(b []byte) (header, bool) {
	if len(b) < headerSize {
		return header{}, false
	}
	h := header{
		length: binary.LittleEndian.Uint32(b[0:]), seq: binary.LittleEndian.Uint64(b[8:]),
		lead: binary.LittleEndian.Uint32(b[16:]), kind: binary.LittleEndian.Uint32(b[20:]),
	}
	var p []byte
	switch {
	case h.kind == kindData && h.length > 0 && int64(h.length) <= int64(len(b)-headerSize):
		p = b[headerSize : headerSize+int(h.length)]
	case h.kind == kindLost && h.lead > 0 && int64(h.length) <= int64(len(b)-headerSize):
	case h.kind == kindClose && h.length == 0:
	default:
		return header{}, false
	}
	return h, checksum(b, p) == binary.LittleEndian.Uint32(b[4:])
}
