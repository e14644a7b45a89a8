// ntfy is an Arbiter plugin written in C: it publishes each action it is
// given to an ntfy topic (ntfy.sh or a self-hosted server) as a push
// notification, with the action's severity as the message's priority.
//
// It is plain C99 against ABI v1 (plugins/ABI.md) and wasi-libc, with no
// SDK: the few host functions are declared below, and a small JSON reader
// takes from the input only what it needs. Build it with
//
//   clang --target=wasm32-wasi -O2 -mexec-model=reactor -o ntfy.wasm ntfy.c
//
// (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32), or
// make plugin-ntfy.

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("arbiter"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

// Host functions, module "arbiter". Replies pack code<<32 | length; the
// data waits in the host until read_result fetches it.
IMPORT("log") void host_log(int32_t level, const char *ptr, int32_t len);
IMPORT("http") uint64_t host_http(const char *ptr, int32_t len);
IMPORT("secret") uint64_t host_secret(const char *ptr, int32_t len);
IMPORT("read_result") int32_t host_read_result(char *ptr, int32_t len);

enum { REPLY_OK = 0, REPLY_NOT_FOUND = 1, REPLY_DENIED = 2, REPLY_TIMEOUT = 5 };
enum { LOG_DEBUG = 1, LOG_INFO = 2, LOG_WARN = 3 };

// ---- strings and buffers ----

// str is a span of bytes that belongs to someone else: the input, or a buf.
typedef struct {
	const char *p;
	size_t n;
} str;

// buf is a growing byte buffer. Running out of memory traps: the host
// then fails the call as retryable and replaces the instance.
typedef struct {
	char *p;
	size_t n, cap;
} buf;

static void grow(buf *b, size_t more) {
	if (b->n + more <= b->cap) {
		return;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->n + more) {
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		__builtin_trap();
	}
	b->p = p;
	b->cap = cap;
}

static void put(buf *b, const char *p, size_t n) {
	grow(b, n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }
static void putc_(buf *b, char c) { put(b, &c, 1); }
static str view(const buf *b) { return (str){b->p, b->n}; }
static int eq(str s, const char *lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }

static void put_uint(buf *b, uint64_t v) {
	char d[20];
	int i = 0;
	do {
		d[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i) {
		putc_(b, d[--i]);
	}
}

// put_json_string writes s as a JSON string: quote, backslash and control
// characters escaped, everything else as it is.
static void put_json_string(buf *b, str s) {
	static const char hex[] = "0123456789abcdef";
	putc_(b, '"');
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '"' || c == '\\') {
			putc_(b, '\\');
			putc_(b, (char)c);
		} else if (c == '\n') {
			puts_(b, "\\n");
		} else if (c < 0x20) {
			puts_(b, "\\u00");
			putc_(b, hex[c >> 4]);
			putc_(b, hex[c & 15]);
		} else {
			putc_(b, (char)c);
		}
	}
	putc_(b, '"');
}

// put_header_value writes s for an HTTP header, control characters as
// spaces: a policy's reason must not be able to add a header.
static void put_header_value(buf *b, str s) {
	buf clean = {0};
	for (size_t i = 0; i < s.n; i++) {
		putc_(&clean, (unsigned char)s.p[i] < 0x20 ? ' ' : s.p[i]);
	}
	put_json_string(b, view(&clean));
	free(clean.p);
}

// ---- a small JSON reader: enough to find members and decode strings ----

static const char *skip_ws(const char *p, const char *end) {
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
		p++;
	}
	return p;
}

// skip_string returns the end of the string starting at p (on its quote),
// past the closing quote, or NULL if it does not close.
static const char *skip_string(const char *p, const char *end) {
	for (p++; p < end; p++) {
		if (*p == '\\') {
			p++;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

// skip_value returns the end of the JSON value starting at p, or NULL if
// it is malformed. Objects and arrays are skipped by depth, their strings
// by skip_string; scalars run to the next delimiter.
static const char *skip_value(const char *p, const char *end) {
	p = skip_ws(p, end);
	if (p >= end) {
		return NULL;
	}
	if (*p == '"') {
		return skip_string(p, end);
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < end) {
			if (*p == '"') {
				if (!(p = skip_string(p, end))) {
					return NULL;
				}
				continue;
			}
			if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0) {
					return p + 1;
				}
			}
			p++;
		}
		return NULL;
	}
	const char *start = p;
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
		p++;
	}
	return p > start ? p : NULL;
}

// each_member calls fn for every member of the object obj, with its key as
// written (keys this plugin looks for have no escapes) and its value. It
// returns 0 if obj is not an object or is malformed.
typedef void (*member_fn)(str key, str value, void *arg);

static int each_member(str obj, member_fn fn, void *arg) {
	const char *p = skip_ws(obj.p, obj.p + obj.n), *end = obj.p + obj.n;
	if (p >= end || *p != '{') {
		return 0;
	}
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		return 1;
	}
	while (p < end) {
		if (*p != '"') {
			return 0;
		}
		const char *kend = skip_string(p, end);
		if (!kend) {
			return 0;
		}
		str key = {p + 1, (size_t)(kend - p - 2)};
		p = skip_ws(kend, end);
		if (p >= end || *p != ':') {
			return 0;
		}
		const char *vstart = skip_ws(p + 1, end);
		const char *vend = skip_value(vstart, end);
		if (!vend) {
			return 0;
		}
		fn(key, (str){vstart, (size_t)(vend - vstart)}, arg);
		p = skip_ws(vend, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		return p < end && *p == '}';
	}
	return 0;
}

struct find {
	const char *key;
	str value;
	int found;
};

static void find_fn(str key, str value, void *arg) {
	struct find *f = arg;
	if (!f->found && eq(key, f->key)) {
		f->found = 1;
		f->value = value;
	}
}

// member returns the value of obj's member key, or an empty span.
static str member(str obj, const char *key) {
	struct find f = {key, {0, 0}, 0};
	each_member(obj, find_fn, &f);
	return f.value;
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static uint32_t hex4(const char *p) {
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0) return 0xfffd;
		v = v << 4 | (uint32_t)h;
	}
	return v;
}

static void put_utf8(buf *b, uint32_t r) {
	if (r < 0x80) {
		putc_(b, (char)r);
	} else if (r < 0x800) {
		putc_(b, (char)(0xc0 | r >> 6));
		putc_(b, (char)(0x80 | (r & 0x3f)));
	} else if (r < 0x10000) {
		putc_(b, (char)(0xe0 | r >> 12));
		putc_(b, (char)(0x80 | (r >> 6 & 0x3f)));
		putc_(b, (char)(0x80 | (r & 0x3f)));
	} else {
		putc_(b, (char)(0xf0 | r >> 18));
		putc_(b, (char)(0x80 | (r >> 12 & 0x3f)));
		putc_(b, (char)(0x80 | (r >> 6 & 0x3f)));
		putc_(b, (char)(0x80 | (r & 0x3f)));
	}
}

// text appends the text of a JSON value to b: a string decoded, anything
// else as written. It returns 0 for a missing value.
static int text(buf *b, str v) {
	if (v.n == 0) {
		return 0;
	}
	if (v.p[0] != '"') {
		put(b, v.p, v.n);
		return 1;
	}
	const char *p = v.p + 1, *end = v.p + v.n - 1;
	while (p < end) {
		if (*p != '\\') {
			putc_(b, *p++);
			continue;
		}
		if (++p >= end) break;
		char c = *p++;
		switch (c) {
		case 'n': putc_(b, '\n'); break;
		case 't': putc_(b, '\t'); break;
		case 'r': putc_(b, '\r'); break;
		case 'b': putc_(b, '\b'); break;
		case 'f': putc_(b, '\f'); break;
		case 'u': {
			if (end - p < 4) return 1;
			uint32_t r = hex4(p);
			p += 4;
			if (r >= 0xd800 && r < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				uint32_t lo = hex4(p + 2);
				if (lo >= 0xdc00 && lo < 0xe000) {
					r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (r >= 0xd800 && r < 0xe000) r = 0xfffd;
			put_utf8(b, r);
			break;
		}
		default: putc_(b, c); // \" \\ \/
		}
	}
	return 1;
}

// number reads a non-negative integer value, or returns -1.
static int64_t number(str v) {
	if (v.n == 0 || v.p[0] < '0' || v.p[0] > '9') {
		return -1;
	}
	int64_t n = 0;
	for (size_t i = 0; i < v.n && v.p[i] >= '0' && v.p[i] <= '9' && n < 1000000000; i++) {
		n = n * 10 + (v.p[i] - '0');
	}
	return n;
}

// ---- the host's replies ----

// reply holds the data of a reply-returning host call.
typedef struct {
	uint32_t code;
	buf data;
} reply;

static reply fetch(uint64_t packed) {
	reply r = {(uint32_t)(packed >> 32), {0}};
	uint32_t n = (uint32_t)packed;
	grow(&r.data, n + 1);
	r.data.n = (size_t)host_read_result(r.data.p, (int32_t)n);
	return r;
}

static void log_(int level, buf *msg) { host_log(level, msg->p, (int32_t)msg->n); }

// ---- the plugin ----

// out holds the last output: the host copies it before it calls again.
static buf out;
static buf input; // the buffer alloc hands to the host

static uint64_t packed(str s) { return (uint64_t)(uintptr_t)s.p << 32 | (uint32_t)s.n; }

// answer sets out to {"status":status,"message":message[,"retryAfterMs":ms]}.
static uint64_t answer(const char *status, str message, int64_t retry_ms) {
	out.n = 0;
	puts_(&out, "{\"status\":\"");
	puts_(&out, status);
	puts_(&out, "\",\"message\":");
	put_json_string(&out, message);
	if (retry_ms > 0) {
		puts_(&out, ",\"retryAfterMs\":");
		put_uint(&out, (uint64_t)retry_ms);
	}
	putc_(&out, '}');
	return packed(view(&out));
}

static uint64_t answerf(const char *status, int64_t retry_ms, const char *prefix, str detail) {
	buf m = {0};
	puts_(&m, "ntfy: ");
	puts_(&m, prefix);
	put(&m, detail.p, detail.n);
	uint64_t r = answer(status, view(&m), retry_ms);
	free(m.p);
	return r;
}

EXPORT("alloc") void *alloc(int32_t size) {
	if (size < 0) {
		return NULL;
	}
	if ((size_t)size > input.cap) {
		free(input.p);
		input.p = malloc((size_t)size);
		input.cap = input.p ? (size_t)size : 0;
	}
	return input.p;
}

static const char describe_json[] =
	"{\"abi\":1,\"name\":\"ntfy\",\"kind\":\"notifier\",\"version\":\"1.0.0\","
	"\"configSchema\":{\"type\":\"object\","
	"\"properties\":{\"topic_url_secret\":{\"type\":\"string\",\"minLength\":1},"
	"\"token_secret\":{\"type\":\"string\",\"minLength\":1}},"
	"\"required\":[\"topic_url_secret\"],\"additionalProperties\":false}}";

EXPORT("describe") uint64_t describe(void) {
	return packed((str){describe_json, sizeof describe_json - 1});
}

// priority maps a severity to ntfy's priorities (5 urgent … 1 min) and a tag
// ntfy shows as an emoji.
static void priority(str severity, const char **prio, const char **tag) {
	if (eq(severity, "\"critical\"")) {
		*prio = "5";
		*tag = "rotating_light";
	} else if (eq(severity, "\"high\"")) {
		*prio = "4";
		*tag = "warning";
	} else if (eq(severity, "\"warning\"")) {
		*prio = "3";
		*tag = "large_orange_diamond";
	} else {
		*prio = "2";
		*tag = "information_source";
	}
}

// details appends the action's other members to the body, one per line.
static void details_fn(str key, str value, void *arg) {
	buf *b = arg;
	if (eq(key, "type") || eq(key, "reason") || eq(key, "severity") || eq(key, "targets")) {
		return;
	}
	put(b, key.p, key.n);
	puts_(b, ": ");
	text(b, value);
	putc_(b, '\n');
}

// secret fetches the secret the config names under key into dst. It
// returns 0, having set the answer in *res, when it cannot.
static int secret(str config, const char *key, int required, buf *dst, uint64_t *res) {
	buf name = {0};
	if (!text(&name, member(config, key))) {
		if (required) {
			*res = answerf("fail", 0, "config lacks ", (str){key, strlen(key)});
		}
		return !required;
	}
	reply r = fetch(host_secret(name.p, (int32_t)name.n));
	int ok = r.code == REPLY_OK;
	if (ok) {
		put(dst, r.data.p, r.data.n);
	} else {
		*res = answerf("fail", 0, "no secret granted under the name ", view(&name));
	}
	free(name.p);
	free(r.data.p);
	return ok;
}

EXPORT("handle") uint64_t handle(const char *ptr, int32_t len) {
	str in = {ptr, (size_t)len};
	str config = member(in, "config"), event = member(in, "event"), action = member(in, "action");
	if (action.n == 0) {
		return answerf("fail", 0, "input without an action", (str){"", 0});
	}
	uint64_t res = 0;
	buf url = {0}, token = {0};
	if (!secret(config, "topic_url_secret", 1, &url, &res) || !secret(config, "token_secret", 0, &token, &res)) {
		free(url.p);
		free(token.p);
		return res;
	}

	const char *prio, *tag;
	priority(member(action, "severity"), &prio, &tag);
	buf title = {0}, tags = {0}, body = {0};
	puts_(&title, "Arbiter: ");
	text(&title, member(action, "reason"));
	puts_(&tags, tag);
	putc_(&tags, ',');
	text(&tags, member(action, "severity"));
	text(&body, member(action, "type"));
	puts_(&body, ": ");
	text(&body, member(action, "reason"));
	puts_(&body, " (");
	text(&body, member(action, "severity"));
	puts_(&body, ")\n");
	str customer = member(event, "customerId");
	if (customer.n > 2) {
		puts_(&body, "customer ");
		text(&body, customer);
		puts_(&body, ", ");
	}
	puts_(&body, "event ");
	text(&body, member(event, "id"));
	putc_(&body, '\n');
	each_member(action, details_fn, &body);

	// The request: {"method","url","headers","body"}.
	buf req = {0};
	puts_(&req, "{\"method\":\"POST\",\"url\":");
	put_json_string(&req, view(&url));
	puts_(&req, ",\"headers\":{\"Content-Type\":\"text/plain; charset=utf-8\",\"Title\":");
	put_header_value(&req, view(&title));
	puts_(&req, ",\"Priority\":\"");
	puts_(&req, prio);
	puts_(&req, "\",\"Tags\":");
	put_header_value(&req, view(&tags));
	if (token.n > 0) {
		buf auth = {0};
		puts_(&auth, "Bearer ");
		put(&auth, token.p, token.n);
		puts_(&req, ",\"Authorization\":");
		put_header_value(&req, view(&auth));
		free(auth.p);
	}
	puts_(&req, "},\"body\":");
	put_json_string(&req, view(&body));
	putc_(&req, '}');

	reply r = fetch(host_http(req.p, (int32_t)req.n));
	free(req.p);
	free(url.p);
	free(token.p);
	free(title.p);
	free(tags.p);
	free(body.p);

	if (r.code != REPLY_OK) {
		// DENIED: the topic's host is not in allow_hosts, which retrying
		// will not change. Anything else (a timeout, a refused
		// connection) may pass later.
		res = r.code == REPLY_DENIED ? answerf("fail", 0, "", view(&r.data)) : answerf("retry", 0, "", view(&r.data));
		free(r.data.p);
		return res;
	}
	str resp = view(&r.data);
	int64_t status = number(member(resp, "status"));
	buf msg = {0};
	if (status >= 200 && status < 300) {
		puts_(&msg, "published");
		buf id = {0};
		text(&id, member(resp, "body"));
		str mid = member(view(&id), "id"); // ntfy answers with the message as JSON
		if (mid.n > 0) {
			puts_(&msg, " as ");
			text(&msg, mid);
		}
		free(id.p);
		log_(LOG_DEBUG, &msg);
		res = answerf("ok", 0, "", view(&msg));
	} else {
		puts_(&msg, "HTTP ");
		put_uint(&msg, status < 0 ? 0 : (uint64_t)status);
		puts_(&msg, ": ");
		buf detail = {0};
		text(&detail, member(resp, "body"));
		put(&msg, detail.p, detail.n < 200 ? detail.n : 200);
		free(detail.p);
		if (status == 429 || status >= 500) {
			buf ra = {0};
			text(&ra, member(member(resp, "headers"), "retry-after"));
			int64_t secs = number(view(&ra));
			free(ra.p);
			log_(LOG_WARN, &msg);
			res = answerf("retry", secs > 0 ? secs * 1000 : 0, "", view(&msg));
		} else {
			res = answerf("fail", 0, "", view(&msg));
		}
	}
	free(msg.p);
	free(r.data.p);
	return res;
}
