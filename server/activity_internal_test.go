package server

import (
	"context"
	"testing"

	"connectrpc.com/connect"
)

// TestActivityCountsUnaryCallsWhileTheyRun checks that a unary call is
// counted in while its handler runs and out once it returned, and that a
// nil Activity counts nothing.
func TestActivityCountsUnaryCallsWhileTheyRun(t *testing.T) {
	a := &Activity{}
	var during int64
	call := activityInterceptor{a}.WrapUnary(func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		during = a.InFlight()
		return nil, nil
	})
	if _, err := call(context.Background(), connect.NewRequest(&struct{}{})); err != nil {
		t.Fatal(err)
	}
	if during != 1 {
		t.Fatalf("during the call: %d in flight, want 1", during)
	}
	if n := a.InFlight(); n != 0 {
		t.Fatalf("after the call: %d in flight, want 0", n)
	}
	var none *Activity
	if none.InFlight() != 0 {
		t.Fatal("a nil Activity should count nothing")
	}
}
