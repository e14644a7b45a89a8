// Command trivial is the smallest useful guest: it answers ok without reading
// its input. Benchmarks use it to measure the host and SDK overhead alone.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

func init() {
	sdk.Register(sdk.Plugin{
		Info:   sdk.Info{Name: "trivial", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(*sdk.Request) sdk.Result { return sdk.OK("") },
	})
}

func main() {}
