package wasmhost

import (
	"context"
	"strings"
	"testing"
)

// TestCheckBundledPlugins runs the conformance kit on every bundled plugin,
// the example, and the hand-written minimal guest.
func TestCheckBundledPlugins(t *testing.T) {
	for _, name := range bundledNames {
		t.Run(name, func(t *testing.T) {
			r := Check(context.Background(), guest["bundled"], name, withTestCache())
			if !r.Passed() {
				t.Fatalf("conformance:\n%s", r)
			}
			requireEqual(t, name, r.Info.Name)
		})
	}
	for _, name := range []string{"discord", "minimal"} {
		t.Run(name, func(t *testing.T) {
			r := Check(context.Background(), guest[name], "", withTestCache())
			if !r.Passed() {
				t.Fatalf("conformance:\n%s", r)
			}
			if name != "minimal" && r.Info.Name != name {
				t.Errorf("describe name %q, want %q", r.Info.Name, name)
			}
		})
	}
}

// TestCheckBundledModule checks the module of the bundled plugins as a
// whole: without an entry it lists what it holds, and CheckModule checks
// each of them.
func TestCheckBundledModule(t *testing.T) {
	ctx := context.Background()
	r := Check(ctx, guest["bundled"], "", withTestCache())
	if r.Passed() {
		t.Fatalf("a module of several plugins passed without an entry:\n%s", r)
	}
	requireContains(t, r.String(), "FAIL describe: describe output: the module holds several plugins (auditlog, console, pagerduty, slack, webhook); choose one with an entry")

	r = Check(ctx, guest["bundled"], "teams", withTestCache())
	requireContains(t, r.String(), `(entry teams)`)
	requireContains(t, r.String(), `FAIL instantiate: the module holds no plugin "teams"; it holds auditlog, console`)

	r = Check(ctx, guest["minimal"], "slack", withTestCache())
	requireContains(t, r.String(), `FAIL instantiate: entry "slack": guest does not export func[select]`)

	reports := CheckModule(ctx, guest["bundled"], "", withTestCache())
	var names []string
	for _, r := range reports {
		if !r.Passed() {
			t.Errorf("conformance:\n%s", r)
		}
		requireEqual(t, r.Entry, r.Info.Name)
		names = append(names, r.Info.Name)
	}
	requireEqual(t, strings.Join(bundledNames, " "), strings.Join(names, " "))

	reports = CheckModule(ctx, guest["discord"], "", withTestCache())
	requireEqual(t, 1, len(reports))
	requireEqual(t, "discord", reports[0].Info.Name)
	requireEqual(t, "", reports[0].Entry)
}

func TestCheckFindsProblems(t *testing.T) {
	tests := []struct {
		guest, check, detail string
	}{
		{"badsig", CheckExports, "func[handle] with signature (i32) -> (i32); want handle(ptr i32, len i32) -> (packed i64)"},
		{"badsig", CheckExports, "func[select] with signature (i32) -> (i64); want select(ptr i32, len i32) -> (status i32)"},
		{"badsig", CheckImports, "unknown func[arbiter.exec]"},
		{"unreachable", CheckHandle, "plugin trapped: wasm error: unreachable"},
		{"hugeout", CheckHandle, "exceeds the limit"},
		{"panic", CheckHandle, "panic: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.guest+"/"+tc.check, func(t *testing.T) {
			r := Check(context.Background(), guest[tc.guest], "", withTestCache())
			if r.Passed() {
				t.Fatalf("%s passed the kit:\n%s", tc.guest, r)
			}
			for _, c := range r.Checks {
				if c.Name == tc.check {
					if c.Passed || !strings.Contains(c.Detail, tc.detail) {
						t.Errorf("check %s: %+v, want failure with %q", c.Name, c, tc.detail)
					}
					return
				}
			}
			t.Errorf("no %s check in\n%s", tc.check, r)
		})
	}
}

func withTestCache() Option { return func(o *options) { o.checkCacheDir = compileCache } }

func TestCheckMissingFile(t *testing.T) {
	r := Check(context.Background(), "testdata/nope.wasm", "")
	if r.Passed() || r.Checks[0].Name != CheckCompile || r.Checks[0].Passed {
		t.Fatalf("want a compile failure:\n%s", r)
	}
	if !r.Checks[len(r.Checks)-1].Skipped {
		t.Errorf("later checks should be skipped:\n%s", r)
	}
}

func TestCheckReportString(t *testing.T) {
	r := Check(context.Background(), guest["badsig"], "")
	s := r.String()
	for _, want := range []string{"PASS compile", "FAIL exports: ", "FAIL imports: ", "SKIP handle"} {
		requireContains(t, s, want)
	}
}
