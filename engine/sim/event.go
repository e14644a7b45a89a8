package sim

import "time"

// Event is one webhook as PacSpace would send it. Body is sent byte for
// byte; signing happens at delivery, per webhook secret and scheme.
type Event struct {
	ID   string // X-Event-ID
	Type string // the payload's event type, for webhook subscriptions
	Body []byte
	// Fault is a delivery-level fault to inject for this event.
	Fault DeliveryFault
}

// DeliveryFault alters how one event is signed or stamped when sent. The
// zero value sends it correctly.
type DeliveryFault struct {
	// BadSignature signs with a wrong secret.
	BadSignature bool
	// TimestampSkew moves X-PacSpace-Timestamp (v1 scheme) by this much,
	// e.g. -10m for a stale timestamp.
	TimestampSkew time.Duration
}
