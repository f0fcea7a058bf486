package syncengine

import (
	"context"
	"slices"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Principal is an authenticated caller: a user's enrolled device or an
// integrator's API key. It decides what the caller sees and may write.
type Principal struct {
	TenantID string
	// Devices.
	UserID   string
	DeviceID string
	Role     fieldsyncv1.Role
	RegionID string
	StoreID  string
	// API keys.
	APIKeyID    string
	Permissions []string
}

// IsDevice reports whether the caller is a user's device.
func (p *Principal) IsDevice() bool { return p.DeviceID != "" }

// IsAPIKey reports whether the caller is an integrator key.
func (p *Principal) IsAPIKey() bool { return p.APIKeyID != "" }

// Can reports whether an API key holds a named permission ("stock:write").
// A device never holds key permissions.
func (p *Principal) Can(permission string) bool {
	return p.IsAPIKey() && slices.Contains(p.Permissions, permission)
}

// Actor is the id written into change and conflict logs: the device id, or
// "key:<id>" for an API key, or "server" for the server's own writes.
func (p *Principal) Actor() string {
	switch {
	case p.IsDevice():
		return p.DeviceID
	case p.IsAPIKey():
		return "key:" + p.APIKeyID
	default:
		return ServerActor
	}
}

// ServerActor is the actor of writes the server makes itself (alerts,
// computed fields).
const ServerActor = "server"

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller stored in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
