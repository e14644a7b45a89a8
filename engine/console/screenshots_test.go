package console_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestScreenshots renders every page, light and dark, into the directory
// CONSOLE_SCREENSHOTS names (make screenshots: docs/console). It is not a
// check: it makes the pictures people look at.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set CONSOLE_SCREENSHOTS to a directory (make screenshots) to render the console's pages")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	a, truth := filled(t)
	ctx := browser(t)
	login(t, ctx, a, adminToken)

	gapEvent := eventOf(truth, "chain-gap")
	customer := customerOf(t, a, gapEvent)
	_, file, _, _ := runtime.Caller(0)
	policies := filepath.Join(filepath.Dir(file), "..", "..", "policies")

	pages := []struct{ name, path string }{
		{"overview", "/ui/?paused=1"},
		{"events", "/ui/events?type=delta.verified"},
		{"event", "/ui/events/" + gapEvent + "?raw=1"},
		{"deliveries", "/ui/deliveries?status=failed"},
		{"delivery", "/ui/deliveries/" + failedDelivery(t, a)},
		{"bulk-retry", "/ui/deliveries/retry?actionType=alert"},
		{"chains", "/ui/chains"},
		{"chain", "/ui/chains/" + customer},
		{"policies", "/ui/policies"},
		{"policy-dry-run", "/ui/policies/dry-run?run=1&dir=" + policies + "&limit=200"},
		{"plugins", "/ui/plugins"},
		{"plugin", "/ui/plugins/console"},
		{"webhooks", "/ui/webhooks"},
		{"webhook", "/ui/webhooks/pacspace"},
		{"not-found", "/ui/events/evt_nothing_here"},
	}
	for _, scheme := range []string{"light", "dark"} {
		colorScheme(t, ctx, scheme)
		for _, p := range pages {
			shot(t, ctx, a.base+p.path, filepath.Join(dir, p.name+"-"+scheme+".png"))
		}
	}
	// The login page, signed out.
	ctx = browser(t)
	for _, scheme := range []string{"light", "dark"} {
		colorScheme(t, ctx, scheme)
		shot(t, ctx, a.base+"/ui/login", filepath.Join(dir, "login-"+scheme+".png"))
	}
}

func shot(t *testing.T, ctx context.Context, url, file string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, png, 0o644))
}

// colorScheme makes the page see prefers-color-scheme as scheme.
func colorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	require.NoError(t, err)
}
