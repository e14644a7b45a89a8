// Package sim is a local stand-in for PacSpace: the dashboard API for
// webhooks and delivery history (seeds 002 and 003) and a delivery engine
// that signs and sends events to registered URLs with retries. Scenarios
// (package sim/scenario) feed it realistic event streams with injected
// faults. It is a test tool: everything is kept in memory and lost when the
// process ends.
//
// # Delivery
//
// Publish creates one delivery per enabled webhook subscribed to the
// event's type and queues it; Run's workers send them. Each request carries
// X-Event-ID, Content-Type: application/json, User-Agent
// PacSpace-Webhooks/1.0 and the signature in the webhook's scheme: v1
// (X-PacSpace-Signature: v1=…, X-PacSpace-Timestamp) or the legacy sha256=
// of seed 003.
//
// A 2xx delivers. Network errors, timeouts, 5xx, 408 and 429 are retried
// with exponential backoff and full jitter, after Retry-After when the
// receiver sends one (capped at Config.MaxDelay), until Config.MaxAttempts.
// Any other 4xx fails the delivery at once: the receiver has judged the
// request itself (a bad signature, a stale timestamp, a malformed body) and
// the same bytes will be judged the same way on retry. A 3xx is such a
// status too: redirects are not followed. A delivery whose webhook is
// disabled or deleted when its turn comes fails without a request, with
// "webhook disabled" or "webhook deleted" as its error.
//
// # Dashboard API
//
// Handler serves seed 002's routes under /dashboard/webhooks. Seeds 002 and
// 003 disagree on the envelope; this package answers with 002's
// {"success":true,"data":…,"message":…} rather than 003's statusCode, and
// errors as {"success":false,"error":{"message":…,"fields":{…}}}, naming
// each bad field. It accepts both seeds' authentication: 003's
// "Authorization: Bearer <token>" and 002's session cookie, which
// POST /dashboard/login sets for the same token. Seed 003's legacy sha256=
// signatures are available per webhook through its "scheme".
//
// Delivery history is bounded by Config.History: past it, the oldest
// finished records are dropped first.
package sim
