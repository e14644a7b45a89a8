// Package auditlog is the bundled plugin that keeps an append-only audit
// trail of actions in the plugin's key-value namespace: one entry per
// delivery, shaped like the
// verificationReceipts of PacSpace's agent pattern (receiptId, deltaIndex,
// proofHash, verified, actions, processedAt).
//
// # Layout
//
//	seq                     last sequence number, decimal
//	entry/<seq, 20 digits>  the entry JSON; zero-padded so keys sort in order
//	idem/<idempotency key>  the sequence number that delivery got
//
// Entries are written entry → idem → seq, so a retry after a crash at any
// point neither loses nor duplicates an entry: a retry that finds its idem
// key only makes sure seq has caught up. The read-modify-write of seq needs
// calls in sequence, so describe asks for one instance (maxInstances 1).
package auditlog

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "1.0.0"

const configSchema = `{"type": "object", "additionalProperties": false}`

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "auditlog", Kind: sdk.KindStore, Version: version,
			ConfigSchema: []byte(configSchema),
			MaxInstances: 1,
		},
		Handle: handle,
	})
}

// Entry is one audit record. The tags document the stored JSON, which
// Entry.JSON writes without encoding/json.
type Entry struct {
	Seq         int64           `json:"seq"`
	ReceiptID   string          `json:"receiptId,omitempty"`
	DeltaIndex  json.RawMessage `json:"deltaIndex,omitempty"`
	ProofHash   string          `json:"proofHash,omitempty"`
	Verified    *bool           `json:"verified,omitempty"`
	Actions     json.RawMessage `json:"actions"`
	ProcessedAt string          `json:"processedAt"`
	EventID     string          `json:"eventId"`
	EventType   string          `json:"eventType,omitempty"`
	CustomerID  string          `json:"customerId,omitempty"`
	DeliveryID  string          `json:"deliveryId"`
}

// JSON encodes the entry in field order, leaving out empty optional members.
func (e Entry) JSON() []byte {
	var j sdk.JSON
	j.Object()
	j.Key("seq").Int(e.Seq)
	optional(&j, "receiptId", e.ReceiptID)
	if len(e.DeltaIndex) > 0 {
		j.Key("deltaIndex").Raw(e.DeltaIndex)
	}
	optional(&j, "proofHash", e.ProofHash)
	if e.Verified != nil {
		j.Key("verified").Bool(*e.Verified)
	}
	j.Key("actions").Raw(e.Actions)
	j.Key("processedAt").String(e.ProcessedAt)
	j.Key("eventId").String(e.EventID)
	optional(&j, "eventType", e.EventType)
	optional(&j, "customerId", e.CustomerID)
	j.Key("deliveryId").String(e.DeliveryID)
	return j.End().Bytes()
}

func optional(j *sdk.JSON, key, value string) {
	if value != "" {
		j.Key(key).String(value)
	}
}

// Key names.
const (
	seqKey      = "seq"
	entryPrefix = "entry/"
	idemPrefix  = "idem/"
)

// EntryKey is the key of entry seq.
func EntryKey(seq int64) string {
	n := strconv.FormatInt(seq, 10)
	return entryPrefix + strings.Repeat("0", max(0, 20-len(n))) + n
}

func handle(req *sdk.Request) sdk.Result {
	if req.IdempotencyKey == "" {
		return sdk.Fail("auditlog: delivery has no idempotency key")
	}
	idemKey := idemPrefix + req.IdempotencyKey
	if len(idemKey) > sdk.MaxKeyBytes {
		return sdk.Fail("auditlog: idempotency key too long")
	}
	last, err := readSeq()
	if err != nil {
		return storeError(err)
	}
	// A retry of a delivery that was recorded: only make sure seq caught up.
	if v, ok, err := sdk.KVGet(idemKey); err != nil {
		return storeError(err)
	} else if ok {
		seq, _ := strconv.ParseInt(string(v), 10, 64)
		if seq > last {
			if err := sdk.KVSet(seqKey, []byte(strconv.FormatInt(seq, 10))); err != nil {
				return storeError(err)
			}
		}
		return sdk.OK("auditlog: already recorded as entry " + strconv.FormatInt(seq, 10))
	}

	entry, err := buildEntry(req, last+1)
	if err != nil {
		return sdk.Fail("auditlog: " + err.Error())
	}
	seq := strconv.FormatInt(entry.Seq, 10)
	for _, kv := range [][2]string{{EntryKey(entry.Seq), string(entry.JSON())}, {idemKey, seq}, {seqKey, seq}} {
		if err := sdk.KVSet(kv[0], []byte(kv[1])); err != nil {
			return storeError(err)
		}
	}
	return sdk.OK("auditlog: recorded entry " + seq)
}

func readSeq() (int64, error) {
	v, ok, err := sdk.KVGet(seqKey)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, errors.New("seq " + strconv.Quote(string(v)) + ": not a number")
	}
	return n, nil
}

func buildEntry(req *sdk.Request, seq int64) (Entry, error) {
	f, err := req.Fields()
	if err != nil {
		return Entry{}, errors.New("action: " + err.Error())
	}
	e := Entry{
		Seq:         seq,
		ReceiptID:   f.String("receiptId"),
		ProofHash:   f.String("proofHash"),
		ProcessedAt: sdk.Now().UTC().Format(time.RFC3339Nano),
		EventID:     req.Event.ID,
		EventType:   req.Event.Type,
		CustomerID:  req.Event.CustomerID,
		DeliveryID:  req.DeliveryID,
	}
	if v, ok := f.Number("deltaIndex"); ok {
		e.DeltaIndex = json.RawMessage(strconv.FormatFloat(v, 'f', -1, 64))
	}
	if v, ok := f.Bool("verified"); ok {
		e.Verified = &v
	}
	// The actions decided for the event, if the policy listed them;
	// otherwise this action itself.
	if raw, ok := f.Raw("actions"); ok && len(raw) > 0 && raw[0] == '[' {
		e.Actions = raw
	} else {
		e.Actions = json.RawMessage("[" + string(req.Action) + "]")
	}
	return e, nil
}

// storeError turns a failed host store call into a result: an absent store
// is a configuration error, anything else may pass on retry.
func storeError(err error) sdk.Result {
	if he, ok := err.(*sdk.HostError); ok && (he.Code == sdk.CodeUnavailable || he.Code == sdk.CodeInvalid || he.Code == sdk.CodeTooLarge) {
		return sdk.Fail("auditlog: " + err.Error())
	}
	return sdk.Retry("auditlog: "+err.Error(), 0)
}
