package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestPluginCheckBundled checks the module of the bundled plugins with the
// real binary: every plugin it holds, or the one --entry names.
func TestPluginCheckBundled(t *testing.T) {
	const module = "../../plugins/bundled/bundled.wasm"
	out, err := exec.Command(arbiterBin, "plugin", "check", module).CombinedOutput()
	if err != nil {
		t.Fatalf("plugin check: %v\n%s", err, out)
	}
	for _, name := range []string{"auditlog", "console", "pagerduty", "slack", "webhook"} {
		if !strings.Contains(string(out), module+" (entry "+name+")\n") {
			t.Errorf("no report for %s in\n%s", name, out)
		}
	}
	if n := strings.Count(string(out), "PASS reuse"); n != 5 {
		t.Errorf("%d plugins passed, want 5:\n%s", n, out)
	}

	out, err = exec.Command(arbiterBin, "plugin", "check", module, "--entry", "slack").CombinedOutput()
	if err != nil || strings.Count(string(out), "(entry ") != 1 || !strings.Contains(string(out), "PASS describe: slack ") {
		t.Errorf("--entry slack: %v\n%s", err, out)
	}

	out, err = exec.Command(arbiterBin, "plugin", "check", module, "--entry", "teams").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("--entry teams: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), `FAIL instantiate: the module holds no plugin "teams"; it holds auditlog, console, pagerduty, slack, webhook`) {
		t.Errorf("--entry teams:\n%s", out)
	}
}
