package wasmhost

import (
	"testing"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

// TestSDKMirrorsABI keeps plugins/sdk/abi.go equal to abi.go: the SDK cannot
// import this package (it would pull wazero into every guest).
func TestSDKMirrorsABI(t *testing.T) {
	pairs := []struct {
		name      string
		host, sdk int
	}{
		{"ABIVersion", ABIVersion, sdk.ABIVersion},
		{"CodeOK", CodeOK, int(sdk.CodeOK)},
		{"CodeNotFound", CodeNotFound, int(sdk.CodeNotFound)},
		{"CodeDenied", CodeDenied, int(sdk.CodeDenied)},
		{"CodeInvalid", CodeInvalid, int(sdk.CodeInvalid)},
		{"CodeTooLarge", CodeTooLarge, int(sdk.CodeTooLarge)},
		{"CodeTimeout", CodeTimeout, int(sdk.CodeTimeout)},
		{"CodeFailed", CodeFailed, int(sdk.CodeFailed)},
		{"CodeUnavailable", CodeUnavailable, int(sdk.CodeUnavailable)},
		{"LogTrace", LogTrace, int(sdk.LevelTrace)},
		{"LogDebug", LogDebug, int(sdk.LevelDebug)},
		{"LogInfo", LogInfo, int(sdk.LevelInfo)},
		{"LogWarn", LogWarn, int(sdk.LevelWarn)},
		{"LogError", LogError, int(sdk.LevelError)},
		{"MaxLogBytes", MaxLogBytes, sdk.MaxLogBytes},
		{"MaxKeyBytes", MaxKeyBytes, sdk.MaxKeyBytes},
		{"MaxValueBytes", MaxValueBytes, sdk.MaxValueBytes},
		{"MaxHTTPRequestBytes", MaxHTTPRequestBytes, sdk.MaxHTTPRequestBytes},
		{"MaxRedirects", MaxRedirects, sdk.MaxRedirects},
		{"MaxDescribeBytes", MaxDescribeBytes, sdk.MaxDescribeBytes},
	}
	for _, p := range pairs {
		if p.host != p.sdk {
			t.Errorf("%s: host %d, sdk %d", p.name, p.host, p.sdk)
		}
	}
	strs := []struct{ name, host, sdk string }{
		{"HostModule", HostModule, sdk.HostModule},
		{"KindNotifier", string(KindNotifier), sdk.KindNotifier},
		{"KindStore", string(KindStore), sdk.KindStore},
		{"StatusOK", string(StatusOK), string(sdk.StatusOK)},
		{"StatusRetry", string(StatusRetry), string(sdk.StatusRetry)},
		{"StatusFail", string(StatusFail), string(sdk.StatusFail)},
	}
	for _, p := range strs {
		if p.host != p.sdk {
			t.Errorf("%s: host %q, sdk %q", p.name, p.host, p.sdk)
		}
	}
}
