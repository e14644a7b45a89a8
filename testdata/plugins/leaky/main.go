// Command leaky leaks 1 MiB per call but always answers ok: a slow leak the
// host must bound by recycling instances whose memory has grown.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

var leaked [][]byte

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "leaky", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			leaked = append(leaked, make([]byte, 1<<20))
			return sdk.OK("")
		},
	})
}

func main() {}
