package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// conn is one plain-HTTP keep-alive connection that writes each request
// from bytes assembled in place and reads the answer with http.ReadResponse.
// net/http's client costs several times the CPU per request (a read and a
// write goroutine per connection, a header map, a body pipe); on a machine
// that runs the generator beside the receiver, that CPU is taken from the
// receiver under test, and more from a multi-threaded receiver than from a
// single-threaded one. https:// targets keep net/http's client.
type conn struct {
	addr    string
	head    []byte // "POST /path HTTP/1.1\r\nHost: …\r\nContent-Type: application/json\r\n"
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	buf     []byte
	stop    func() bool // unregisters the ctx watcher
}

func newConn(u *url.URL, timeout time.Duration) *conn {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: arbiter-load\r\nContent-Type: application/json\r\n",
		u.RequestURI(), u.Host)
	return &conn{addr: addr, head: head, timeout: timeout}
}

// do sends q and returns the response status, and the start of the body
// when the status is not 2xx. Any error leaves the connection closed, to be
// dialled again by the next request.
func (c *conn) do(ctx context.Context, q request, headers [3]string) (status int, snippet []byte, err error) {
	if c.c == nil {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return 0, nil, err
		}
		c.c = nc
		c.br = bufio.NewReaderSize(nc, 4096)
		// A cancelled run must not wait out a hung request's timeout.
		c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	}
	b := append(c.buf[:0], c.head...)
	b = appendHeader(b, headers[0], q.sig)
	if q.ts != "" {
		b = appendHeader(b, headers[1], q.ts)
	}
	b = appendHeader(b, headers[2], q.eventID)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(q.body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, q.body...)
	c.buf = b

	c.c.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write(b); err != nil {
		c.close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		snippet, _ = io.ReadAll(io.LimitReader(resp.Body, 200))
	}
	// Drain, so the next response starts where it should.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.close()
		return resp.StatusCode, snippet, fmt.Errorf("read response: %w", err)
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, snippet, nil
}

func appendHeader(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func (c *conn) close() {
	if c.c == nil {
		return
	}
	c.stop()
	c.c.Close()
	c.c, c.br, c.stop = nil, nil, nil
}
