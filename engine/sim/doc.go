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
// Seeds 002 and 003 document the same webhook routes in two dialects, and
// the sim speaks both, over the same webhooks. DialectHandler serves one
// of them under /dashboard, and each under a prefix named after its host:
// /app/dashboard/… and /balance-api/dashboard/….
//
//   - app (seed 002, the default): {"success":true,"data":…,"message":…}
//     envelopes, errors as {"success":false,"error":{"message":…,
//     "fields":{…}}} naming each bad field, the webhook list paginated,
//     enabled and lastTriggered, the delivery history with its CSV export
//     and retries. It takes 002's session cookie, which POST
//     /dashboard/login sets for the sim's token, or the token itself as a
//     bearer token.
//   - balance-api (seed 003): {"statusCode":200,"data":…} envelopes, the
//     webhook list as a plain array, active and lastTriggeredAt (left out
//     until a delivery), times as JavaScript writes them, and its six
//     routes only. It takes a bearer JWT (HS256, signed with the sim's
//     token: IssueJWT, or arbiter sim jwt) and nothing else. Webhooks it
//     creates sign with seed 003's legacy sha256= unless the request names
//     a scheme. Seed 003 shows no error; errors follow the NestJS shape its
//     envelope suggests, {"statusCode","message","error"}, with "fields" as
//     in the other dialect.
//
// Delivery history is bounded by Config.History: past it, the oldest
// finished records are dropped first.
package sim
