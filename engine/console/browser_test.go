package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// login signs the browser in with token through the login form.
func login(t *testing.T, ctx context.Context, a *agent, token string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(a.base+"/ui/login"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("header.top")),
	))
}

// eventOf is the first event the truth says has a fault of kind.
func eventOf(truth []truthLine, kind string) string {
	for _, tl := range truth {
		if tl.Kind == kind {
			return tl.EventID
		}
	}
	return ""
}

// customerOf reads an event's customer from its decision's input.
func customerOf(t testing.TB, a *agent, eventID string) string {
	t.Helper()
	var ev struct {
		Data struct {
			Decision struct {
				Input struct {
					Delta struct {
						CustomerID string `json:"customerId"`
					} `json:"delta"`
				} `json:"input"`
			} `json:"decision"`
		} `json:"data"`
	}
	a.getJSON(t, "/v1/events/"+eventID, adminToken, &ev)
	c := ev.Data.Decision.Input.Delta.CustomerID
	require.True(t, c != "", "event "+eventID+" has a customer")
	return c
}

// text reads the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return strings.TrimSpace(s)
}

// waitFor polls the page with js until it is true.
func waitFor(t *testing.T, ctx context.Context, js string, within time.Duration) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(t, err, js)
}
