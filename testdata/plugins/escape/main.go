// Command escape is a hostile guest: it tries to reach the URL in its action
// ({"url": "..."}), which the operator did not allow. The host must refuse
// before any connection is made.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "escape", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			f, _ := req.Fields()
			resp, err := sdk.HTTP(sdk.HTTPRequest{Method: "POST", URL: f.String("url"), Body: []byte("exfiltrated")})
			return sdk.HTTPResult("escape", resp, err)
		},
	})
}

func main() {}
