// Package ratingtest is the conformance suite every store of R10 rating
// links passes (the pattern of syncengine/storetest): the signing secret,
// issued tokens and their single-use claim in the sync engine's write
// transaction (syncengine.Tx.ClaimRatingToken). storage/sqlite and
// storage/postgres run it.
package ratingtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is a rating store under test, with the sync engine's write
// transaction the claim runs in and the tenants the tokens belong to.
type Store interface {
	server.RatingStore
	Update(ctx context.Context, fn func(tx syncengine.Tx) error) error
	CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error)
}

// Run runs the suite. newStore returns an empty store for one subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"SecretIsMadeOnceAndShared", testSecret},
		{"TokenIsClaimedOnceInItsTenant", testClaimOnce},
		{"ExpiredTokenIsNotFound", testExpired},
		{"RolledBackClaimLeavesTokenLive", testRollback},
		{"ConcurrentClaimsHaveOneWinner", testConcurrentClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// tenant creates a tenant and returns its id.
func tenant(t *testing.T, s Store, name string) string {
	t.Helper()
	tn, err := s.CreateTenant(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// issue stores a token with hash h (32 bytes of b) for quote q.
func issue(t *testing.T, s Store, b byte, tenantID, quoteID string, expires time.Time) []byte {
	t.Helper()
	h := bytes.Repeat([]byte{b}, 32)
	if err := s.IssueRatingToken(t.Context(), h, tenantID, quoteID, "device-1", expires); err != nil {
		t.Fatal(err)
	}
	return h
}

// claim claims the token in a write transaction of its own.
func claim(t *testing.T, s Store, hash []byte, tenantID string) error {
	return s.Update(t.Context(), func(tx syncengine.Tx) error { return tx.ClaimRatingToken(hash, tenantID) })
}

// wantNotFound fails the test unless err is CodeNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !syncengine.IsCode(err, syncengine.CodeNotFound) {
		t.Errorf("%s: %v, want CodeNotFound", what, err)
	}
}

// testSecret: the first call makes a 32-byte secret; later and concurrent
// calls read the same one.
func testSecret(t *testing.T, s Store) {
	secrets := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec, err := s.RatingSecret(t.Context())
			if err != nil {
				t.Error(err)
			}
			secrets[i] = sec
		}()
	}
	wg.Wait()
	again, err := s.RatingSecret(t.Context())
	if err != nil || len(again) != 32 {
		t.Fatalf("secret %x, %v", again, err)
	}
	for _, sec := range secrets {
		if !bytes.Equal(sec, again) {
			t.Errorf("secrets differ: %x, %x", sec, again)
		}
	}
}

// testClaimOnce: a token is live with its tenant, quote and issue time
// until claimed; it is claimed once, and only in its own tenant.
func testClaimOnce(t *testing.T, s Store) {
	a, b := tenant(t, s, "A"), tenant(t, s, "B")
	before := time.Now().Add(-time.Minute)
	h := issue(t, s, 1, a, "q1", time.Now().Add(time.Hour))
	tn, q, issued, err := s.RatingToken(t.Context(), h)
	if err != nil || tn != a || q != "q1" || issued.Before(before) || issued.After(time.Now().Add(time.Minute)) {
		t.Fatalf("live token: %s %s %v %v", tn, q, issued, err)
	}
	_, _, _, err = s.RatingToken(t.Context(), bytes.Repeat([]byte{9}, 32))
	wantNotFound(t, "unknown token", err)
	wantNotFound(t, "claim of an unknown token", claim(t, s, bytes.Repeat([]byte{9}, 32), a))
	wantNotFound(t, "claim by another tenant", claim(t, s, h, b))
	if err := claim(t, s, h, a); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "second claim", claim(t, s, h, a))
	_, _, _, err = s.RatingToken(t.Context(), h)
	wantNotFound(t, "used token", err)
}

// testExpired: an expired token is neither live nor claimable.
func testExpired(t *testing.T, s Store) {
	a := tenant(t, s, "A")
	h := issue(t, s, 2, a, "q1", time.Now().Add(-time.Second))
	_, _, _, err := s.RatingToken(t.Context(), h)
	wantNotFound(t, "expired token", err)
	wantNotFound(t, "claim of an expired token", claim(t, s, h, a))
}

// testRollback: a claim in a transaction that fails later is undone.
func testRollback(t *testing.T, s Store) {
	a := tenant(t, s, "A")
	h := issue(t, s, 3, a, "q1", time.Now().Add(time.Hour))
	boom := errors.New("the rating write failed")
	err := s.Update(t.Context(), func(tx syncengine.Tx) error {
		if err := tx.ClaimRatingToken(h, a); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if _, _, _, err := s.RatingToken(t.Context(), h); err != nil {
		t.Errorf("token after a rolled-back claim: %v", err)
	}
	if err := claim(t, s, h, a); err != nil {
		t.Errorf("claim after a rolled-back one: %v", err)
	}
}

// testConcurrentClaims: of several claims of one token at once, exactly
// one succeeds.
func testConcurrentClaims(t *testing.T, s Store) {
	a := tenant(t, s, "A")
	h := issue(t, s, 4, a, "q1", time.Now().Add(time.Hour))
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = claim(t, s, h, a)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !syncengine.IsCode(err, syncengine.CodeNotFound):
			t.Errorf("losing claim: %v, want CodeNotFound", err)
		}
	}
	if won != 1 {
		t.Errorf("%d claims won, want 1", won)
	}
}
