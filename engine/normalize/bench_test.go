package normalize_test

import (
	"testing"

	"github.com/arbiter-dev/arbiter/engine/normalize"
)

// BenchmarkNormalize: one event from raw body to input document, as the
// worker's dispatcher does for every event it reads.
//
//	go test -run '^$' -bench Normalize -benchmem ./engine/normalize
func BenchmarkNormalize(b *testing.B) {
	for _, name := range []string{"delta.verified", "batch.verified"} {
		b.Run(name, func(b *testing.B) {
			ev := load(b, "../../testdata/events/"+name+".json")
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.Body)))
			for b.Loop() {
				if _, err := normalize.Normalize(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
