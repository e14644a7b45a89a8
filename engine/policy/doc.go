// Package policy decides, with Rego, what must happen for each input
// document. It loads a policy set (Rego modules and data files), compiles
// it, refuses it unless its own _test.rego tests pass, compiles the one
// query data.arbiter.decision once, and evaluates it per event. An Engine
// keeps the active set and swaps in a new one, atomically and only when it
// passes the same gate, on Reload (SIGHUP, POST /-/reload) or on a file
// change seen by Watch.
//
// # Why it is built this way
//
// The test gate runs in process with OPA's tester, the same code as
// opa test, so "opa test policies/ passes" and "the agent accepts
// policies/" cannot disagree. Tests run against the set's data files only:
// they pin default thresholds (a boundary test of the drift threshold must
// hold), so a deployment's DataOverrides would make them fail. Overrides are
// checked instead, key by key: every overridden key must exist in the data
// files, so a typo is an error and not a default silently left in force.
//
// A set is read into memory once per load, and the loader, compiler and
// revision all work from that snapshot, so a revision names exactly the
// bytes that were compiled even when files change during a reload. Only
// .rego files and data.json / data.yaml are read: other JSON in the
// directory (fixtures, examples) is not policy data.
//
// Inputs are converted to ast.Value by a hand-written builder rather than
// through JSON: marshal-then-parse allocates about three times as much
// (BenchmarkDecide/json_roundtrip against input_conversion), and conversion
// is a third of a quiet decision. The builder takes its terms from slabs and
// parses the payload's raw JSON straight to AST. It is held to the JSON form
// by a test and a fuzz target that compare it with
// ast.MustParseTerm(json.Marshal(input)).
//
// Evaluation drives topdown, OPA's evaluator, directly rather than through
// rego: rego allocates for every evaluation option, wraps results in Go
// values, and starts a goroutine per evaluation to watch the context,
// which the evaluator can ask itself before every step. Data is kept in
// the store as AST values, and the set reads it once into a cache every
// evaluation shares (dataCache): OPA's own cache starts empty per
// evaluation, so each decision read its thresholds from the store again.
// The values of rules are cached per evaluation in a list, indexed by hash
// only once it grows long (evalCache), rather than OPA's trie of hash
// maps. Results are read as AST terms. An action's Raw is its object as
// compact JSON with sorted keys: the same action always has the same bytes.
//
// Policies cannot reach the network: http.send and net.lookup_ip_addr are
// removed from the compiler's capabilities, so a set that calls them fails
// to compile. A decision must not wait on other hosts or leak to them;
// plugins are the doors out, with allow lists and deadlines.
//
// Rejected options: evaluating with OPA's Wasm target (no gain at this
// size, and a second runtime); a plugin manager with bundles (Arbiter reads
// a directory it owns; bundles, signing and discovery solve other
// problems); reloading only changed modules (compiling the default set and
// running its tests takes 0.1–0.2 s); one read transaction per set shared
// by all evaluations (it would hold the store's read lock for the set's
// lifetime to save one allocation per decision); ast.LazyObject for parts
// of the input (it is built from Go maps, which cost as much to build as
// AST objects, and converts what is read on top); building only the parts
// of the input a set reads (the default rules pass all of input to
// object.get, and the analysis would have to be right for every set an
// operator writes); rewriting the default rules for speed (comparing
// before assigning, decision.rego without count: nothing measurable; the
// rule index already skips the rules whose input is missing or whose
// equality does not hold).
package policy
