package wasmhost

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSecretsNeverLeak drives every path by which a plugin's secret could
// surface — its own log lines, a panic message, its result message, an HTTP
// failure to a secret URL, a printed config — and asserts that no secret
// value appears in the log, in errors or in results.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		token   = "tok_9f8e7d6c5b4a"
		hookURL = "/services/T000/B000/XoXoXoXoXoXo"
	)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close() // connection refused: the HTTP error path
	secretURL := "http://" + closedAddr + hookURL

	logger, buf := newLogger()
	secrets := Secrets{"token": token, "url": secretURL}
	h := newHost(t, []PluginConfig{
		{Name: "probe", Path: guest["probe"], Secrets: secrets, AllowHosts: []string{closedAddr}},
		{Name: "panic", Path: guest["panic"], Secrets: secrets},
	}, WithLogger(logger))

	var seen []string
	invoke := func(plugin, act string) {
		res, err := h.Invoke(context.Background(), plugin, action(act))
		seen = append(seen, res.Message)
		if err != nil {
			seen = append(seen, err.Error())
		}
	}
	invoke("probe", `{"type":"probe","op":"secret","name":"token"}`)
	invoke("probe", `{"type":"probe","op":"secret","name":"url"}`)
	invoke("probe", fmt.Sprintf(`{"type":"probe","op":"log","level":4,"msg":"leaking %s and %s"}`, token, secretURL))
	invoke("probe", fmt.Sprintf(`{"type":"probe","op":"http","url":%q}`, secretURL))
	invoke("panic", `{"type":"x"}`)
	logger.Info("config", "plugin", PluginConfig{Name: "probe", Secrets: secrets})
	logger.Info("secrets", "secrets", secrets)
	seen = append(seen, buf.String(), fmt.Sprintf("%v %+v %#v", secrets, secrets, secrets))

	all := strings.Join(seen, "\n")
	for _, secret := range []string{token, secretURL, hookURL} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q leaked:\n%s", secret, all)
		}
	}
	// The paths did run: the redaction marker is there instead.
	requireContains(t, all, "leaking [redacted] and [redacted]")
	requireContains(t, all, "panic: boom [redacted]")
	requireContains(t, all, "request to "+closedAddr+" failed")
}
