// Command panic is a hostile guest: handle panics, and puts the secret
// "token" in the panic message when it is granted one, to prove the host
// keeps it out of errors and logs.
package main

import "github.com/arbiter-dev/arbiter/plugins/sdk"

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{Name: "panic", Kind: sdk.KindNotifier, Version: "0.0.1"},
		Handle: func(req *sdk.Request) sdk.Result {
			token, _ := sdk.Secret("token")
			panic("boom " + token)
		},
	})
}

func main() {}
