// Command loop is a hostile guest: handle never returns. The host's deadline
// must end the call and replace the instance.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "loop", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			n := 0
			for {
				n++
			}
		},
	})
}

func main() {}
