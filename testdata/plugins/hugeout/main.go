// Command hugeout is a hostile guest: its output is 4 MiB, far past the
// host's output limit. The host must refuse to copy it.
package main

import (
	"strings"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "hugeout", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			return sdk.OK(strings.Repeat("x", 4<<20))
		},
	})
}

func main() {}
