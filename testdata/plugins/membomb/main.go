// Command membomb is a hostile guest: handle allocates until memory runs out.
// The memory limit must end the call and the instance be replaced.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

var hoard [][]byte

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "membomb", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			for {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		},
	})
}

func main() {}
