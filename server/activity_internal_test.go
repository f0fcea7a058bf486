package server

import (
	"context"
	"testing"

	"connectrpc.com/connect"
)

// TestActivityCountsUnaryCallsWhileTheyRun checks that a unary call is
// counted in while its handler runs and out once it returned, and that a
// nil Activity is always quiet.
func TestActivityCountsUnaryCallsWhileTheyRun(t *testing.T) {
	a := &Activity{}
	if !a.QuietFor(0) || a.InFlight() != 0 {
		t.Fatal("a new Activity should be quiet")
	}
	var during int64
	var quietDuring bool
	call := activityInterceptor{a}.WrapUnary(func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		during, quietDuring = a.InFlight(), a.QuietFor(0)
		return nil, nil
	})
	if _, err := call(context.Background(), connect.NewRequest(&struct{}{})); err != nil {
		t.Fatal(err)
	}
	if during != 1 || quietDuring {
		t.Fatalf("during the call: %d in flight, quiet %v; want 1, false", during, quietDuring)
	}
	if a.InFlight() != 0 || !a.QuietFor(0) {
		t.Fatalf("after the call: %d in flight", a.InFlight())
	}
	var none *Activity
	if !none.QuietFor(0) || none.InFlight() != 0 {
		t.Fatal("a nil Activity should be quiet")
	}
}
