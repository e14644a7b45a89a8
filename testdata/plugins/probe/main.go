// Command probe exercises every host function, as told by its action, so the
// host's tests can drive them from the outside:
//
//	{"type":"probe","op":"echo"}                 → ok, message = the input as the SDK decoded it
//	{"type":"probe","op":"log","level":2,"msg":"…"}
//	{"type":"probe","op":"now"}                  → message = sdk.Now() as RFC 3339
//	{"type":"probe","op":"secret","name":"…"}    → message = value, or fail
//	{"type":"probe","op":"kvset","key":"…","value":"…"}
//	{"type":"probe","op":"kvget","key":"…"}      → message = value, or fail "not found"
//	{"type":"probe","op":"http","method":"…","url":"…","body":"…"}
//	                                             → message = "<status> <body>", or fail with the error
//	{"type":"probe","op":"result","status":"retry","retryAfterMs":1500,"msg":"…"}
//	{"type":"probe","op":"environ"}              → message = how many WASI environment variables, and them
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "probe", Kind: sdk.KindNotifier, Version: "0.0.1",
			ConfigSchema: json.RawMessage(`{"type":"object","properties":{"mode":{"enum":["a","b"]}},"additionalProperties":false}`),
		},
		Handle: handle,
	})
}

func main() {}

func handle(req *sdk.Request) sdk.Result {
	f, err := req.Fields()
	if err != nil {
		return sdk.Fail(err.Error())
	}
	switch op := f.String("op"); op {
	case "echo":
		b, _ := json.Marshal(map[string]any{
			"abi": req.ABI, "action": req.Action, "event": req.Event, "deliveryId": req.DeliveryID,
			"idempotencyKey": req.IdempotencyKey, "attempt": req.Attempt, "config": req.Config,
		})
		return sdk.OK(string(b))
	case "environ":
		env := os.Environ()
		return sdk.OK(fmt.Sprintf("%d %q", len(env), env))
	case "log":
		lvl, _ := f.Number("level")
		sdk.Log(sdk.Level(lvl), f.String("msg"))
		return sdk.OK("logged")
	case "now":
		return sdk.OK(sdk.Now().UTC().Format(time.RFC3339Nano) + " " + time.Now().UTC().Format(time.RFC3339))
	case "secret":
		v, ok := sdk.Secret(f.String("name"))
		if !ok {
			return sdk.Fail("secret not granted")
		}
		return sdk.OK(v)
	case "kvset":
		if err := sdk.KVSet(f.String("key"), []byte(f.String("value"))); err != nil {
			return sdk.Fail(err.Error())
		}
		return sdk.OK("set")
	case "kvget":
		v, ok, err := sdk.KVGet(f.String("key"))
		switch {
		case err != nil:
			return sdk.Fail(err.Error())
		case !ok:
			return sdk.Fail("not found")
		}
		return sdk.OK(string(v))
	case "http":
		resp, err := sdk.HTTP(sdk.HTTPRequest{
			Method:  f.String("method"),
			URL:     f.String("url"),
			Headers: map[string]string{"X-Probe": "1"},
			Body:    []byte(f.String("body")),
		})
		if err != nil {
			return sdk.Fail(err.Error())
		}
		return sdk.OK(strconv.Itoa(resp.Status) + " " + string(resp.Body))
	case "result":
		ms, _ := f.Number("retryAfterMs")
		return sdk.Result{Status: sdk.Status(f.String("status")), Message: f.String("msg"),
			RetryAfter: time.Duration(ms) * time.Millisecond}
	default:
		return sdk.Fail(fmt.Sprintf("unknown op %q", op))
	}
}
