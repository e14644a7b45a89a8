package engine

import "encoding/json"

// Severity levels policies assign to actions, most urgent first.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Action is one thing a policy decided must happen. Type, Reason and
// Severity are always present; Targets are the plugin instances routing
// chose; Raw is the whole action object as the policy produced it, details
// included, and is what plugins receive.
type Action struct {
	Type     string          `json:"type"`
	Reason   string          `json:"reason"`
	Severity string          `json:"severity"`
	Targets  []string        `json:"targets"`
	Raw      json.RawMessage `json:"-"`
}

// DeliveryStatus is where an action delivery to one plugin stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)
