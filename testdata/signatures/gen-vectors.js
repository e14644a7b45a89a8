#!/usr/bin/env node
// Generates vectors.json: signature verification cases for the two PacSpace
// schemes. The MACs are computed here with Node's crypto, independently of
// the Go code under test (engine/pacspace). Run from anywhere:
//
//   node testdata/signatures/gen-vectors.js > testdata/signatures/vectors.json
//
// Node's output is deterministic, so re-running it must not change the file.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const testdata = path.join(__dirname, '..');
const fixture = (name) => fs.readFileSync(path.join(testdata, 'events', name), 'utf8');

// Secrets the seeds show. Seed 003's is truncated in the docs ("…"); we use
// the visible part.
const SEED002_SECRET = 'whsec_abc123def456xyz789';
const SEED000_SECRET = 'whsec_your_secret_here';
const SEED003_SECRET = 'whsec_k7d9f2a1b3c4e5';
const OLD = 'whsec_old_rotating_out';
const NEW = 'whsec_new_rotating_in';
const OTHER = 'whsec_not_configured';

// Seed 002's example X-PacSpace-Timestamp and the matching clock.
const T = 1739270400;
const iso = (unixSeconds, nanos = 0) => {
  const d = new Date(unixSeconds * 1000).toISOString().replace('.000Z', '');
  return nanos ? `${d}.${String(nanos).padStart(9, '0')}Z` : `${d}Z`;
};
const NOW = iso(T);

const hmac = (secret, content) => crypto.createHmac('sha256', secret).update(content).digest('hex');
const macV1 = (secret, ts, body) => hmac(secret, `${ts}.${body}`);
const macLegacy = (secret, body) => hmac(secret, body);
const v1 = (secret, ts, body) => 'v1=' + macV1(secret, ts, body);
const legacy = (secret, body) => 'sha256=' + macLegacy(secret, body);

const TEST = 'events/test.json';
const testBody = fixture('test.json');
const BATCH = 'events/batch.verified.json';
const batchBody = fixture('batch.verified.json');

// The seed 000 agent verifies JSON.stringify(req.body), not the raw body:
// the fixtures must survive that round trip or the agent rejects them.
for (const f of fs.readdirSync(path.join(testdata, 'events')).filter((f) => f.endsWith('.json'))) {
  const s = fixture(f);
  if (JSON.stringify(JSON.parse(s)) !== s) throw new Error(`${f}: not byte-identical under JSON.stringify`);
}

const cases = [];
// add appends a case; defaults: the test fixture body, T, now = T, the
// default 300 s tolerance, legacy refused.
function add(c) {
  const out = {
    name: c.name,
    ...(c.note ? { note: c.note } : {}),
    secrets: c.secrets,
    signature: c.signature,
    timestamp: c.timestamp === undefined ? String(T) : c.timestamp,
  };
  if (c.bodyFile !== undefined) out.bodyFile = c.bodyFile;
  else if (c.body !== undefined) out.body = c.body;
  else out.bodyFile = TEST;
  out.now = c.now || NOW;
  out.toleranceSeconds = c.toleranceSeconds === undefined ? 300 : c.toleranceSeconds;
  out.allowLegacy = !!c.allowLegacy;
  if (c.wantScheme) out.wantScheme = c.wantScheme;
  if (c.wantError) out.wantError = c.wantError;
  if (c.signedWith) out.signedWith = c.signedWith;
  if (!!out.wantScheme === !!out.wantError) throw new Error(`${c.name}: want exactly one of wantScheme, wantError`);
  if (cases.some((x) => x.name === c.name)) throw new Error(`${c.name}: duplicate name`);
  cases.push(out);
}
const bodyOf = (c) => (c.bodyFile ? fixture(c.bodyFile.replace(/^events\//, '')) : c.body);

// --- The seeds' own examples ---------------------------------------------
add({
  name: 'seed002/v1-test-event',
  note: 'seed 002: v1= HMAC over "{timestamp}.{raw body}", its secret and timestamp, its test event',
  secrets: [SEED002_SECRET], signature: v1(SEED002_SECRET, T, testBody), wantScheme: 'v1',
  signedWith: { scheme: 'v1', secret: SEED002_SECRET, timestamp: String(T) },
});
{
  const body = fixture('delta.verified.json');
  const ts = 1775822400; // the fixture's own envelope timestamp, 2026-04-10T12:00:00Z
  add({
    name: 'seed001/v1-delta-verified',
    note: 'seed 001: v1 over a delta.verified body, delivered one second after signing',
    secrets: [SEED002_SECRET], signature: v1(SEED002_SECRET, ts, body), timestamp: String(ts),
    bodyFile: 'events/delta.verified.json', now: iso(ts + 1), wantScheme: 'v1',
    signedWith: { scheme: 'v1', secret: SEED002_SECRET, timestamp: String(ts) },
  });
}
add({
  name: 'seed000/legacy-batch',
  note: 'seed 000: sha256= HMAC over the body; the body is compact so JSON.stringify(req.body) reproduces it',
  secrets: [SEED000_SECRET], signature: legacy(SEED000_SECRET, batchBody), timestamp: '',
  bodyFile: BATCH, allowLegacy: true, wantScheme: 'legacy',
  signedWith: { scheme: 'legacy', secret: SEED000_SECRET },
});
add({
  name: 'seed000/legacy-refused',
  note: 'a valid legacy signature on an endpoint that does not allow legacy',
  secrets: [SEED000_SECRET], signature: legacy(SEED000_SECRET, batchBody), timestamp: '',
  bodyFile: BATCH, allowLegacy: false, wantError: 'ErrLegacyRefused',
});
add({
  name: 'seed000/legacy-refused-before-mac', note: 'refusal does not depend on the MAC: a wrong legacy signature is refused, not reported as bad',
  secrets: [SEED000_SECRET], signature: legacy(OTHER, batchBody), timestamp: '',
  bodyFile: BATCH, allowLegacy: false, wantError: 'ErrLegacyRefused',
});
add({
  name: 'seed000/legacy-refused-rotation', note: 'several legacy entries, one valid, on an endpoint that refuses legacy',
  secrets: [SEED000_SECRET], signature: `${legacy(OTHER, batchBody)},${legacy(SEED000_SECRET, batchBody)}`, timestamp: String(T),
  bodyFile: BATCH, allowLegacy: false, wantError: 'ErrLegacyRefused',
});
add({
  name: 'seed003/legacy-test-event',
  note: 'seed 003: sha256= over the test event',
  secrets: [SEED003_SECRET], signature: legacy(SEED003_SECRET, testBody), timestamp: '',
  allowLegacy: true, wantScheme: 'legacy',
  signedWith: { scheme: 'legacy', secret: SEED003_SECRET },
});
add({
  name: 'seed003/legacy-ignores-timestamp',
  note: 'legacy has no timestamp: a stale X-PacSpace-Timestamp next to it is ignored (no replay window)',
  secrets: [SEED003_SECRET], signature: legacy(SEED003_SECRET, testBody), timestamp: '1',
  allowLegacy: true, wantScheme: 'legacy',
});

// --- Every fixture, both schemes ------------------------------------------
for (const f of fs.readdirSync(path.join(testdata, 'events')).filter((f) => f.endsWith('.json')).sort()) {
  const body = fixture(f);
  const name = f.replace(/\.json$/, '');
  add({
    name: `fixture/${name}/v1`, secrets: [SEED002_SECRET], signature: v1(SEED002_SECRET, T, body),
    bodyFile: `events/${f}`, wantScheme: 'v1',
    signedWith: { scheme: 'v1', secret: SEED002_SECRET, timestamp: String(T) },
  });
  add({
    name: `fixture/${name}/legacy`, secrets: [SEED000_SECRET], signature: legacy(SEED000_SECRET, body),
    timestamp: '', bodyFile: `events/${f}`, allowLegacy: true, wantScheme: 'legacy',
    signedWith: { scheme: 'legacy', secret: SEED000_SECRET },
  });
}

// --- Secret rotation ------------------------------------------------------
const good = v1(NEW, T, testBody);
const goodMAC = macV1(NEW, T, testBody);
const wrong = v1(OTHER, T, testBody);
add({ name: 'rotation/old-secret', secrets: [OLD, NEW], signature: v1(OLD, T, testBody), wantScheme: 'v1' });
add({ name: 'rotation/new-secret', secrets: [OLD, NEW], signature: good, wantScheme: 'v1' });
add({ name: 'rotation/neither-secret', secrets: [OLD, NEW], signature: wrong, wantError: 'ErrBadSignature' });
add({ name: 'rotation/legacy-old-secret', secrets: [OLD, NEW], signature: legacy(OLD, testBody), timestamp: '', allowLegacy: true, wantScheme: 'legacy' });
add({ name: 'rotation/legacy-neither', secrets: [OLD, NEW], signature: legacy(OTHER, testBody), timestamp: '', allowLegacy: true, wantError: 'ErrBadSignature' });
add({
  name: 'rotation/sender-signs-with-both', note: 'the sender lists one MAC per secret; we only know the new one',
  secrets: [NEW], signature: `${v1(OLD, T, testBody)},${good}`, wantScheme: 'v1',
});
add({ name: 'rotation/no-secrets', note: 'an endpoint with no active secret verifies nothing', secrets: [], signature: good, wantError: 'ErrBadSignature' });
add({ name: 'secret/case-sensitive', secrets: [NEW.toUpperCase()], signature: good, wantError: 'ErrBadSignature' });

// --- Several entries in one header ----------------------------------------
add({ name: 'multi/v1-bad-then-good', secrets: [NEW], signature: `${wrong},${good}`, wantScheme: 'v1' });
add({ name: 'multi/v1-good-then-bad', secrets: [NEW], signature: `${good},${wrong}`, wantScheme: 'v1' });
add({ name: 'multi/v1-three-spaced', secrets: [NEW], signature: `${wrong}, ${v1(OLD, T, testBody)} ,${good}`, wantScheme: 'v1' });
add({ name: 'multi/v1-all-bad', secrets: [NEW], signature: `${wrong},${v1(OLD, T, testBody)}`, wantError: 'ErrBadSignature' });
add({
  name: 'mixed/v1-good-legacy-junk', note: 'v1 is preferred; legacy entries are not even needed to verify',
  secrets: [NEW], signature: `${good},sha256=${'0'.repeat(64)}`, wantScheme: 'v1',
});
add({
  name: 'mixed/legacy-first-v1-good', secrets: [NEW], signature: `${legacy(NEW, testBody)},${good}`,
  allowLegacy: true, wantScheme: 'v1',
});
add({
  name: 'mixed/v1-bad-legacy-good', note: 'no downgrade: once v1 is offered, a valid legacy entry does not rescue a bad v1',
  secrets: [NEW], signature: `${wrong},${legacy(NEW, testBody)}`, allowLegacy: true, wantError: 'ErrBadSignature',
});
add({
  name: 'mixed/no-timestamp-no-downgrade', note: 'v1 offered without a timestamp fails even though the legacy entry is valid',
  secrets: [NEW], signature: `${good},${legacy(NEW, testBody)}`, timestamp: '', allowLegacy: true, wantError: 'ErrMissingTimestamp',
});

// --- Header syntax --------------------------------------------------------
add({ name: 'hex/uppercase-v1', secrets: [NEW], signature: 'v1=' + goodMAC.toUpperCase(), wantScheme: 'v1' });
add({ name: 'hex/uppercase-legacy', secrets: [NEW], signature: 'sha256=' + macLegacy(NEW, testBody).toUpperCase(), timestamp: '', allowLegacy: true, wantScheme: 'legacy' });
add({ name: 'hex/mixed-case', secrets: [NEW], signature: 'v1=' + goodMAC.slice(0, 32).toUpperCase() + goodMAC.slice(32), wantScheme: 'v1' });
add({ name: 'hex/truncated-63', secrets: [NEW], signature: good.slice(0, -1), wantError: 'ErrMalformedSignature' });
add({ name: 'hex/truncated-62', note: 'even length, valid hex, 31 bytes', secrets: [NEW], signature: good.slice(0, -2), wantError: 'ErrMalformedSignature' });
add({ name: 'hex/extended-66', secrets: [NEW], signature: good + '00', wantError: 'ErrMalformedSignature' });
add({ name: 'hex/non-hex-digit', secrets: [NEW], signature: good.slice(0, -1) + 'g', wantError: 'ErrMalformedSignature' });
add({ name: 'hex/base64-mac', secrets: [NEW], signature: 'v1=' + Buffer.from(goodMAC, 'hex').toString('base64'), wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/uppercase-V1', secrets: [NEW], signature: 'V1=' + goodMAC, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/uppercase-SHA256', secrets: [NEW], signature: 'SHA256=' + macLegacy(NEW, testBody), timestamp: '', allowLegacy: true, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/v0', secrets: [NEW], signature: 'v0=' + goodMAC, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/sha1', secrets: [NEW], signature: 'sha1=' + crypto.createHmac('sha1', NEW).update(testBody).digest('hex'), timestamp: '', allowLegacy: true, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/colon', secrets: [NEW], signature: 'v1:' + goodMAC, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/none', secrets: [NEW], signature: goodMAC, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/empty-value', secrets: [NEW], signature: 'v1=', wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/stripe-style-t-entry', note: 'one unknown entry fails the whole header', secrets: [NEW], signature: `t=${T},${good}`, wantError: 'ErrMalformedSignature' });
add({ name: 'prefix/quoted', secrets: [NEW], signature: `"${good}"`, wantError: 'ErrMalformedSignature' });
add({ name: 'space/around', secrets: [NEW], signature: `  ${good}  `, wantScheme: 'v1' });
add({ name: 'space/tabs-around', secrets: [NEW], signature: `\t${good}\t`, wantScheme: 'v1' });
add({ name: 'space/after-equals', secrets: [NEW], signature: 'v1= ' + goodMAC, wantError: 'ErrMalformedSignature' });
add({ name: 'space/inside-hex', secrets: [NEW], signature: 'v1=' + goodMAC.slice(0, 32) + ' ' + goodMAC.slice(32), wantError: 'ErrMalformedSignature' });
add({ name: 'list/trailing-comma', secrets: [NEW], signature: `${good},`, wantError: 'ErrMalformedSignature' });
add({ name: 'list/only-comma', secrets: [NEW], signature: ',', wantError: 'ErrMalformedSignature' });
add({ name: 'list/semicolon-separated', secrets: [NEW], signature: `${wrong};${good}`, wantError: 'ErrMalformedSignature' });
add({ name: 'missing/empty-header', secrets: [NEW], signature: '', wantError: 'ErrMissingSignature' });
add({ name: 'missing/blank-header', secrets: [NEW], signature: '  \t ', wantError: 'ErrMissingSignature' });

// --- Timestamps and the tolerance window (default 300 s) -----------------
add({ name: 'window/now-equals-timestamp', secrets: [NEW], signature: good, wantScheme: 'v1' });
add({ name: 'window/oldest-allowed', note: 'timestamp == now - tolerance is inside', secrets: [NEW], signature: good, now: iso(T + 300), wantScheme: 'v1' });
add({ name: 'window/one-second-stale', secrets: [NEW], signature: good, now: iso(T + 301), wantError: 'ErrStaleTimestamp' });
add({ name: 'window/one-nanosecond-stale', note: 'the clock is not truncated to seconds', secrets: [NEW], signature: good, now: iso(T + 300, 1), wantError: 'ErrStaleTimestamp' });
add({ name: 'window/newest-allowed', note: 'timestamp == now + tolerance is inside', secrets: [NEW], signature: good, now: iso(T - 300), wantScheme: 'v1' });
add({ name: 'window/one-second-future', secrets: [NEW], signature: good, now: iso(T - 301), wantError: 'ErrFutureTimestamp' });
add({ name: 'window/half-second-future', secrets: [NEW], signature: good, now: iso(T - 301, 500000000), wantError: 'ErrFutureTimestamp' });
add({ name: 'window/custom-60s-edge', secrets: [NEW], signature: good, now: iso(T + 60), toleranceSeconds: 60, wantScheme: 'v1' });
add({ name: 'window/custom-60s-stale', secrets: [NEW], signature: good, now: iso(T + 61), toleranceSeconds: 60, wantError: 'ErrStaleTimestamp' });
add({ name: 'window/zero-means-default-edge', note: 'toleranceSeconds 0 means the 5 minute default', secrets: [NEW], signature: good, now: iso(T + 300), toleranceSeconds: 0, wantScheme: 'v1' });
add({ name: 'window/zero-means-default-stale', secrets: [NEW], signature: good, now: iso(T + 301), toleranceSeconds: 0, wantError: 'ErrStaleTimestamp' });
add({ name: 'window/epoch', secrets: [NEW], signature: v1(NEW, '0', testBody), timestamp: '0', wantError: 'ErrStaleTimestamp' });
add({
  name: 'window/stale-before-mac', note: 'freshness is checked before the MAC: a stale, wrongly signed request reports stale',
  secrets: [NEW], signature: wrong, now: iso(T + 3600), wantError: 'ErrStaleTimestamp',
});
add({
  name: 'timestamp/milliseconds-13-digits', note: 'Unix milliseconds are not accepted: more than 12 digits is malformed, not far-future',
  secrets: [NEW], signature: v1(NEW, `${T}000`, testBody), timestamp: `${T}000`, wantError: 'ErrMissingTimestamp',
});
add({
  name: 'timestamp/12-digits-far-future', note: '12 digits still parse as seconds (year 7481), so this is a future timestamp',
  secrets: [NEW], signature: v1(NEW, `${T}00`, testBody), timestamp: `${T}00`, wantError: 'ErrFutureTimestamp',
});
add({
  name: 'timestamp/leading-zero-signed-as-sent', note: 'the MAC covers the header exactly as sent, "01739270400."',
  secrets: [NEW], signature: v1(NEW, `0${T}`, testBody), timestamp: `0${T}`, wantScheme: 'v1',
});
add({
  name: 'timestamp/leading-zero-signed-canonical', note: 'same instant, different bytes under the MAC',
  secrets: [NEW], signature: good, timestamp: `0${T}`, wantError: 'ErrBadSignature',
});
add({ name: 'timestamp/other-than-signed', secrets: [NEW], signature: good, timestamp: String(T + 1), wantError: 'ErrBadSignature' });
add({ name: 'timestamp/missing', secrets: [NEW], signature: good, timestamp: '', wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/plus-sign', secrets: [NEW], signature: v1(NEW, `+${T}`, testBody), timestamp: `+${T}`, wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/negative', secrets: [NEW], signature: v1(NEW, '-1', testBody), timestamp: '-1', wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/fractional', secrets: [NEW], signature: v1(NEW, `${T}.5`, testBody), timestamp: `${T}.5`, wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/leading-space', secrets: [NEW], signature: v1(NEW, ` ${T}`, testBody), timestamp: ` ${T}`, wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/rfc3339', secrets: [NEW], signature: v1(NEW, NOW, testBody), timestamp: NOW, wantError: 'ErrMissingTimestamp' });
add({ name: 'timestamp/malformed-before-mac', secrets: [NEW], signature: wrong, timestamp: 'yesterday', wantError: 'ErrMissingTimestamp' });

// --- The body is authenticated byte for byte ------------------------------
{
  const pretty = JSON.stringify(JSON.parse(testBody), null, 2);
  add({ name: 'body/reserialized-pretty-v1', note: 'signed compact, delivered pretty-printed', secrets: [NEW], signature: good, body: pretty, wantError: 'ErrBadSignature' });
  add({ name: 'body/reserialized-pretty-legacy', secrets: [NEW], signature: legacy(NEW, testBody), timestamp: '', body: pretty, allowLegacy: true, wantError: 'ErrBadSignature' });
  add({ name: 'body/trailing-newline', secrets: [NEW], signature: good, body: testBody + '\n', wantError: 'ErrBadSignature' });
  const o = JSON.parse(testBody);
  add({ name: 'body/keys-reordered', secrets: [NEW], signature: good, body: JSON.stringify({ data: o.data, event: o.event, timestamp: o.timestamp }), wantError: 'ErrBadSignature' });
  add({ name: 'body/unicode-escaped', note: '"\\u0054his" is the same JSON string as "This", not the same bytes', secrets: [NEW], signature: good, body: testBody.replace('This', '\\u0054his'), wantError: 'ErrBadSignature' });
  const d = fixture('delta.verified.json');
  const ts = 1775822400;
  add({
    name: 'body/number-reformatted', note: '125.50 and 125.5 are equal numbers, different bytes',
    secrets: [NEW], signature: v1(NEW, ts, d), timestamp: String(ts), now: iso(ts), body: d.replace('"amount":125.5', '"amount":125.50'), wantError: 'ErrBadSignature',
  });
  const raw = '{"event":"test","timestamp":"2025-06-10T15:30:00.000Z","data":{"amount":1.0}}';
  add({
    name: 'body/legacy-over-raw-bytes', note: 'we verify the raw body; the seed 000 agent would sign JSON.stringify and see 1, not 1.0, and reject this',
    secrets: [NEW], signature: legacy(NEW, raw), timestamp: '', body: raw, allowLegacy: true, wantScheme: 'legacy',
  });
  add({ name: 'body/empty-v1', secrets: [NEW], signature: v1(NEW, T, ''), body: '', wantScheme: 'v1' });
  add({ name: 'body/empty-legacy', secrets: [NEW], signature: legacy(NEW, ''), timestamp: '', body: '', allowLegacy: true, wantScheme: 'legacy' });
  add({ name: 'body/different-fixture', secrets: [NEW], signature: good, bodyFile: BATCH, wantError: 'ErrBadSignature' });
}

// --- The schemes are not interchangeable ---------------------------------
add({ name: 'scheme/v1-prefix-legacy-mac', secrets: [NEW], signature: 'v1=' + macLegacy(NEW, testBody), wantError: 'ErrBadSignature' });
add({ name: 'scheme/legacy-prefix-v1-mac', secrets: [NEW], signature: 'sha256=' + goodMAC, allowLegacy: true, wantError: 'ErrBadSignature' });
add({ name: 'scheme/legacy-wrong-secret', secrets: [NEW], signature: legacy(OTHER, testBody), timestamp: '', allowLegacy: true, wantError: 'ErrBadSignature' });

// Self-check: every case that claims success must verify under the rules the
// cases describe, computed again here from the body as stored.
for (const c of cases) {
  if (!c.signedWith) continue;
  const body = bodyOf(c);
  const want = c.signedWith.scheme === 'v1' ? v1(c.signedWith.secret, c.signedWith.timestamp, body) : legacy(c.signedWith.secret, body);
  if (want !== c.signature) throw new Error(`${c.name}: signedWith does not reproduce the signature`);
}

process.stdout.write(JSON.stringify({
  description: 'PacSpace webhook signature vectors. Each case: verify (signature, timestamp) headers over the body ' +
    '(inline "body", or "bodyFile" relative to testdata/) with the endpoint secrets at clock "now" (RFC 3339), ' +
    'tolerance toleranceSeconds (0 = the 300 s default) and allowLegacy; expect wantScheme ("v1" or "legacy") or ' +
    'wantError, the name of the sentinel error in engine/pacspace/signature.go. "signedWith", when present, says the ' +
    'signature is exactly what signing the body with that scheme, secret and timestamp produces. MACs computed by ' +
    'gen-vectors.js with Node crypto.',
  cases,
}, null, 1) + '\n');
