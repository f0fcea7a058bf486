package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
)

// TestWatchStreamsAreCappedPerTenant fills one tenant's Watch cap from two
// of its API keys: its next stream is refused, another tenant's is not,
// and a closed stream frees a place.
func TestWatchStreamsAreCappedPerTenant(t *testing.T) {
	s := newWatchStreams(Limits{WatchPerPrincipal: 4, WatchPerTenant: 8, WatchTotal: 100})
	open := func(tenant, actor string) (func(), error) {
		_, cancel := context.WithCancelCause(context.Background())
		return s.add(tenant, tenant+"/"+actor, cancel)
	}
	var last func()
	for k := range 2 {
		for range 4 {
			done, err := open("A", fmt.Sprintf("key:%d", k))
			if err != nil {
				t.Fatalf("tenant A, key %d: %v", k, err)
			}
			last = done
		}
	}
	if _, err := open("A", "key:2"); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("tenant A's ninth stream: %v, want ResourceExhausted", err)
	}
	if _, err := open("A", "key:0"); err != nil {
		t.Fatalf("a key at its own cap replaces its oldest: %v", err)
	}
	if _, err := open("B", "dev1"); err != nil {
		t.Fatalf("tenant B's first stream: %v", err)
	}
	last()
	if _, err := open("A", "key:2"); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	s.end("A/key:0", errors.New("revoked"))
	for i := range 4 {
		if _, err := open("A", "key:3"); err != nil {
			t.Fatalf("stream %d after a revocation: %v", i, err)
		}
	}
}

// TestWatchPerTenantZeroIsNoCap keeps the old behaviour when switched off.
func TestWatchPerTenantZeroIsNoCap(t *testing.T) {
	s := newWatchStreams(Limits{WatchTotal: 50})
	for i := range 50 {
		_, cancel := context.WithCancelCause(context.Background())
		if _, err := s.add("A", fmt.Sprintf("A/dev%d", i), cancel); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
}
