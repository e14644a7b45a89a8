// Package require is a tiny assertion helper for Arbiter's tests only, in the
// manner of wazero's internal/testing/require: enough to fail loudly with
// context, without a heavy assertion library.
package require

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// NoError fails the test now if err is not nil.
func NoError(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v %v", err, msg)
	}
}

// ErrorIs fails the test now unless errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error, msg ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("expected error %v, got %v %v", target, err, msg)
	}
}

// Equal fails the test now unless want and got are deeply equal.
func Equal(t testing.TB, want, got any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("expected %#v, got %#v %v", want, got, msg)
	}
}

// True fails the test now unless cond holds.
func True(t testing.TB, cond bool, msg ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("expected true %v", msg)
	}
}

// False fails the test now unless cond is false.
func False(t testing.TB, cond bool, msg ...any) {
	t.Helper()
	if cond {
		t.Fatalf("expected false %v", msg)
	}
}

// Contains fails the test now unless s contains sub.
func Contains(t testing.TB, s, sub string, msg ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("expected %q to contain %q %v", s, sub, msg)
	}
}

// NotContains fails the test now if s contains sub.
func NotContains(t testing.TB, s, sub string, msg ...any) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Fatalf("expected %q not to contain %q %v", s, sub, msg)
	}
}
