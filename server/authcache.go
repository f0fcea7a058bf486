package server

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// AuthCacheTTL is how long a token's principal is reused without asking
// the store again. A device's sync authenticates three calls (Push, Pull,
// Ack) within about a second; the store lookup was 6% of the server's CPU
// when 1,000 devices synced at once. A revocation through this server
// (RevokeDevice, RevokeApiKey: the only calls that take a token's rights
// away) drops the whole cache at once, so the revoked device or key fails
// its next call; a revocation made by another process or node is seen
// within AuthCacheTTL.
const AuthCacheTTL = 2 * time.Second

// authCacheMax bounds the tokens cached; past it the cache starts over.
const authCacheMax = 100_000

// authCache is an Authenticator that keeps each token's principal (never
// a failure) for ttl, keyed by the token's SHA-256 so the cache holds no
// token.
type authCache struct {
	next Authenticator
	ttl  time.Duration
	now  func() time.Time

	mu  sync.Mutex
	gen uint64 // bumped by forget: a lookup begun before it is not kept
	m   map[[sha256.Size]byte]authEntry
}

type authEntry struct {
	p       *syncengine.Principal
	expires time.Time
}

func newAuthCache(next Authenticator, ttl time.Duration) *authCache {
	return &authCache{next: next, ttl: ttl, now: time.Now, m: map[[sha256.Size]byte]authEntry{}}
}

// Authenticate returns a copy of the cached principal of token while it
// is fresh, else asks the store.
func (c *authCache) Authenticate(ctx context.Context, token string) (*syncengine.Principal, error) {
	if c.ttl <= 0 {
		return c.next.Authenticate(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return clonePrincipal(e.p), nil
	}
	p, err := c.next.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen { // no change through this server since the lookup began
		if len(c.m) >= authCacheMax {
			c.m = map[[sha256.Size]byte]authEntry{}
		}
		c.m[key] = authEntry{p: clonePrincipal(p), expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return p, nil
}

// forget drops every cached principal: identity may have changed.
func (c *authCache) forget() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// clonePrincipal copies p, so no caller changes what the cache holds.
func clonePrincipal(p *syncengine.Principal) *syncengine.Principal {
	if p == nil {
		return nil
	}
	q := *p
	if p.Permissions != nil {
		q.Permissions = append([]string(nil), p.Permissions...)
	}
	return &q
}
