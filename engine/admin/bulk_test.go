package admin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

type bulkResult struct {
	Count  int       `json:"count"`
	AsOf   time.Time `json:"asOf"`
	DryRun bool      `json:"dryRun"`
}

// TestRetryDeliveries: a dry run counts the failed deliveries a filter
// selects and changes nothing; the retry with that count and time retries
// exactly them; a delivery that failed after the count is left alone, and
// a count that no longer holds retries nothing.
func TestRetryDeliveries(t *testing.T) {
	e := newOutboxEnv(t)
	e.seed(t, history...)

	var dry bulkResult
	e.data(t, "POST", "/v1/deliveries/retry?actionType=alert", `{"dryRun":true}`, 200, &dry)
	require.Equal(t, 2, dry.Count) // d2 and d5
	require.True(t, dry.DryRun)
	var page deliveryPage
	e.data(t, "GET", "/v1/deliveries?status=failed", "", 200, &page)
	require.Equal(t, "d5,d2", ids(page.Deliveries))
	require.Equal(t, int64(0), e.notified.Load())

	// d7 fails after the count was taken.
	time.Sleep(2 * time.Millisecond)
	e.seed(t, outboxRow{"d7", "evt_e", "slack", "alert", engine.DeliveryFailed, 1, "HTTP 500", day(12, 10), time.Time{}})

	msg, _ := e.failure(t, "POST", "/v1/deliveries/retry?actionType=alert",
		fmt.Sprintf(`{"asOf":%q,"expect":3}`, dry.AsOf.Format(time.RFC3339Nano)), 409)
	require.Contains(t, msg, "2 deliveries match now, not 3; nothing was retried")
	e.data(t, "GET", "/v1/deliveries?status=failed", "", 200, &page)
	require.Equal(t, "d7,d5,d2", ids(page.Deliveries))

	var done bulkResult
	e.data(t, "POST", "/v1/deliveries/retry?actionType=alert",
		fmt.Sprintf(`{"asOf":%q,"expect":%d}`, dry.AsOf.Format(time.RFC3339Nano), dry.Count), 200, &done)
	require.Equal(t, 2, done.Count)
	require.Equal(t, int64(1), e.notified.Load())
	e.data(t, "GET", "/v1/deliveries?status=failed", "", 200, &page)
	require.Equal(t, "d7", ids(page.Deliveries))
	e.data(t, "GET", "/v1/deliveries?status=pending", "", 200, &page)
	require.Equal(t, "d5,d3,d2", ids(page.Deliveries))
	for _, d := range page.Deliveries {
		if d.ID != "d3" {
			require.True(t, d.NextAttemptAt != nil, d.ID+" is due")
		}
	}

	// Bad requests change nothing.
	_, fields := e.failure(t, "POST", "/v1/deliveries/retry?status=delivered", `{}`, 400)
	require.Contains(t, fields["status"], "only failed")
	_, fields = e.failure(t, "POST", "/v1/deliveries/retry", `{"asOf":"tomorrow"}`, 400)
	require.Contains(t, fields["asOf"], "RFC 3339")
	_, fields = e.failure(t, "POST", "/v1/deliveries/retry", `{"expect":-1}`, 400)
	require.Contains(t, fields["expect"], "negative")
	e.data(t, "GET", "/v1/deliveries?status=failed", "", 200, &page)
	require.Equal(t, "d7", ids(page.Deliveries))
}
