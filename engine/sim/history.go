package sim

import (
	"cmp"
	"slices"
	"time"
)

// Status is where a delivery is.
type Status string

// Delivery statuses, as seed 002's status filter names them.
const (
	StatusPending   Status = "pending" // queued, being sent, or waiting to retry
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
)

// Delivery is the record of one event sent to one webhook.
type Delivery struct {
	ID        string `json:"id"`
	EventID   string `json:"eventId"`
	WebhookID string `json:"webhookId"`
	EventType string `json:"eventType"`
	Status    Status `json:"status"`
	Attempts  int    `json:"attempts"`
	// LastStatus is the last attempt's HTTP status, 0 when none answered.
	LastStatus int `json:"lastStatus"`
	// LastError says why the last attempt did not deliver; empty once
	// delivered.
	LastError   string     `json:"lastError"`
	CreatedAt   time.Time  `json:"createdAt"`
	DeliveredAt *time.Time `json:"deliveredAt"`
}

// Sort keys of a DeliveryQuery.
const (
	SortCreatedAt   = "createdAt"
	SortDeliveredAt = "deliveredAt"
	SortAttempts    = "attempts"
)

// DeliveryQuery selects and orders delivery records. The zero value lists
// every record, oldest first.
type DeliveryQuery struct {
	Status    Status    // empty: any
	EventID   string    // empty: any
	WebhookID string    // empty: any
	From, To  time.Time // createdAt in [From, To); a zero bound is open
	// SortBy is SortCreatedAt (default), SortDeliveredAt or SortAttempts.
	// Records not delivered sort after the others by deliveredAt, in either
	// order. Ties keep creation order.
	SortBy string
	Desc   bool
	// Limit and Offset select a page; Limit 0 returns every record from
	// Offset on.
	Limit, Offset int
}

func (q DeliveryQuery) match(d *delivery) bool {
	return (q.Status == "" || d.Status == q.Status) &&
		(q.EventID == "" || d.EventID == q.EventID) &&
		(q.WebhookID == "" || d.WebhookID == q.WebhookID) &&
		(q.From.IsZero() || !d.CreatedAt.Before(q.From)) &&
		(q.To.IsZero() || d.CreatedAt.Before(q.To))
}

func (q DeliveryQuery) compare(a, b *delivery) int {
	if q.SortBy == SortDeliveredAt && (a.DeliveredAt == nil) != (b.DeliveredAt == nil) {
		if a.DeliveredAt == nil {
			return 1
		}
		return -1
	}
	var c int
	switch q.SortBy {
	case SortDeliveredAt:
		if a.DeliveredAt != nil {
			c = a.DeliveredAt.Compare(*b.DeliveredAt)
		}
	case SortAttempts:
		c = cmp.Compare(a.Attempts, b.Attempts)
	default:
		c = a.CreatedAt.Compare(b.CreatedAt)
	}
	if c == 0 {
		c = cmp.Compare(a.seq, b.seq)
	}
	if q.Desc {
		return -c
	}
	return c
}

// Deliveries returns the page of records q selects and how many records
// match in all.
func (s *Sim) Deliveries(q DeliveryQuery) (page []Delivery, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ds []*delivery
	for e := s.hist.Front(); e != nil; e = e.Next() {
		if d := e.Value.(*delivery); q.match(d) {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, q.compare)
	total = len(ds)
	ds = ds[min(max(q.Offset, 0), total):]
	if q.Limit > 0 && q.Limit < len(ds) {
		ds = ds[:q.Limit]
	}
	page = make([]Delivery, len(ds))
	for i, d := range ds {
		page[i] = d.Delivery
	}
	return page, total
}
