// Package policy decides, with Rego, what must happen for each input
// document. It loads a policy set (Rego modules and data files, from a
// directory, the binary, or a signed OPA bundle served over HTTP), compiles
// it, refuses it unless its own _test.rego tests pass, compiles the one
// query data.arbiter.decision once, and evaluates it per event. An Engine
// keeps the active set and swaps in a new one, atomically and only when it
// passes the same gate, on Reload (SIGHUP, POST /-/reload), on a file
// change seen by Watch, or on a new bundle seen by Poll.
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
// What a decision needs besides the evaluator and the objects of its input
// comes from pools: the evaluation state (evalCache, the cancel adapter,
// the callback that takes the result) and the input builder, whose last
// term slab holds the next document's terms. Both go back only once the
// decision has been read; nothing outside the evaluation refers to them,
// and only the cells are reused, never the strings, numbers or objects
// they point to. The evaluator is also handed one shared empty request
// metadata map instead of making one. A quiet decision allocates 9.1 KB in
// 151 allocations instead of 10.8 KB in 159; TestPooledStateIsNotShared
// decides different inputs alternately from several goroutines.
//
// What is left of a quiet decision is mostly OPA's: about 60 of the input's
// allocations and 4.7 KB are ast.NewObject (five allocations an object:
// the object, its key list, its hash map and the map's group, its
// elements; Object is a sealed interface, so there is no cheaper object),
// and about 45 are the evaluator's own (eval state, bindings per rule
// body, the result map). A set with a constant decision costs about 24 of
// them. Garbage collection is a quarter of a quiet decision and grows with
// the bytes allocated, not their number. BenchmarkDecide/*_vs_* set a
// decision beside naive evaluation (rego, input as a Go map), alternately
// in one loop so that both see the same machine: a quiet decision takes
// about half the time of naive evaluation of the same set, or of seed
// 001's seven checks (testdata/seedchecks).
//
// A bundle source is fetched over HTTP and read with OPA's bundle
// package, which checks the .signatures.json JWT against the configured
// key and every file's digest against it; the bundle is then compiled and
// gated from a snapshot exactly as a directory is. Only the ETag of the
// active bundle is sent back: a refused bundle is downloaded and judged
// again on the next poll, as OPA's own bundle plugin does, so that fixing
// it on the server needs no action on the agent. Its revision is the
// manifest's, the name its author gave it; the content hash still decides
// whether anything changed, and a bundle whose content changed under the
// active revision is refused, because decisions would record one revision
// for two sets. The last bundle that passed is kept on disk so that the
// agent can start while the server is down; without it, it waits a while
// for a server starting beside it and then does not start, since deciding
// with policies the operator did not publish (the built-in set) would be
// worse than not deciding.
//
// Policies cannot reach the network: http.send and net.lookup_ip_addr are
// removed from the compiler's capabilities, so a set that calls them fails
// to compile. A decision must not wait on other hosts or leak to them;
// plugins are the doors out, with allow lists and deadlines.
//
// Rejected options: evaluating with OPA's Wasm target (no gain at this
// size, and a second runtime); OPA's plugin manager and bundle plugin for
// bundles (they bring OPA's configuration, status and discovery, and
// activate into OPA's store, around a gate that must be Arbiter's own);
// reloading only changed modules (compiling the default set and
// running its tests takes 0.1–0.2 s); one read transaction per set shared
// by all evaluations (it would hold the store's read lock for the set's
// lifetime to save one allocation per decision); ast.LazyObject for parts
// of the input (it is built from Go maps, which cost as much to build as
// AST objects, and converts what is read on top); building only the parts
// of the input a set reads (the default rules pass all of input to
// object.get, and the analysis would have to be right for every set an
// operator writes; leaving out of the quiet input what the default rules
// do not read saved 0.8 KB and 14 allocations, measured by hand,
// not enough for that risk); rewriting the default rules for speed (comparing
// before assigning, decision.rego without count: nothing measurable; the
// rule index already skips the rules whose input is missing or whose
// equality does not hold); numbers' text in one shared buffer per document
// (unsafe.String for nine fewer small allocations, measured, and no fewer
// bytes); pooling input objects and updating their values with Insert
// (Insert rehashes every value of the object each time, so an object of n
// values costs n² hashes); building the interface of string terms by hand
// to save their 16-byte boxes (it depends on the runtime's interface
// layout); sharing one term among the equal strings of a document (a hash
// in the chain and the proof, ids in the record: about 100 bytes, paid for
// in comparisons; estimated, not built).
package policy
