package sim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// BenchmarkPublish measures the delivery engine end to end: publish, sign,
// send over keep-alive connections to a loopback receiver, record.
func BenchmarkPublish(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"received":true}`))
	}))
	b.Cleanup(srv.Close)
	s := sim.New(sim.Config{})
	_, _, err := s.CreateWebhook(sim.WebhookSpec{URL: srv.URL + "/webhooks/pacspace"})
	require.NoError(b, err)
	start(b, s)
	body := []byte(`{"event":"delta.verified","data":{"deltaId":"dlt_bench","customerId":"cus_bench","amount":1250}}`)
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Publish(ctx, sim.Event{ID: "evt_bench_" + strconv.Itoa(i), Type: "delta.verified", Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	drain(b, s)
	b.StopTimer()
	st := s.Stats()
	if st.Delivered != int64(b.N) {
		b.Fatalf("delivered %d of %d", st.Delivered, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
