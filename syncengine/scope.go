package syncengine

import (
	"slices"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// PermRecordsRead is the API-key permission to read every record of the
// tenant (sensitive records excepted).
const PermRecordsRead = "records:read"

// Scope places a record in its tenant: the values of its owner, store and
// region fields (empty when the type has no such field or it is unset).
type Scope struct {
	Owner, Store, Region string
}

// Filter is the set of records a principal may read, as plain data that
// storage turns into a query. It selects records of the tenant that match
// any one of its rules; records of sensitive types match only OwnerID,
// whatever the other rules say. The zero Filter matches nothing.
type Filter struct {
	TenantID string
	// All selects every record (admins; API keys with "records:read").
	All bool
	// OwnerID selects records owned by, or assigned to, this user.
	OwnerID string
	// StoreID selects every record of this store (store staff and managers).
	StoreID string
	// RegionID selects every record of this region (regional directors and
	// tech advisors).
	RegionID string
	// SharedRegionID selects records of shared types (stock levels, campaign
	// material) whose region is this one or empty (tenant-wide): reps and
	// store roles see the shared records of their region.
	SharedRegionID string
	// SharedAll selects every record of shared types, whatever its region
	// (marketing publishes tenant-wide and needs to see all of it).
	SharedAll bool
	// ReaderRole selects every record of the types that list this role in
	// reader_roles (marketing reads all campaign feedback).
	ReaderRole fieldsyncv1.Role
}

// FilterFor returns what p may read. Devices read by role: a rep their own
// records; store staff and managers also their store's; regional directors
// and tech advisors also their region's; marketing also every shared
// record; an admin everything. Every device role also reads the shared
// records of its region and the types that list the role in reader_roles.
// An API key reads everything with "records:read", nothing without. A nil
// principal, one without tenant, an unknown role, or a principal that is
// both a device and a key, gets a Filter that matches nothing.
func FilterFor(p *Principal) Filter {
	switch {
	case p == nil || p.TenantID == "" || p.IsDevice() == p.IsAPIKey():
		return Filter{}
	case p.IsAPIKey():
		return Filter{TenantID: p.TenantID, All: p.Can(PermRecordsRead)}
	}
	f := Filter{TenantID: p.TenantID, OwnerID: p.UserID, ReaderRole: p.Role, SharedRegionID: p.RegionID}
	switch p.Role {
	case fieldsyncv1.Role_ROLE_REP:
	case fieldsyncv1.Role_ROLE_STORE_STAFF, fieldsyncv1.Role_ROLE_STORE_MANAGER:
		f.StoreID = p.StoreID
	case fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, fieldsyncv1.Role_ROLE_TECH_ADVISOR:
		f.RegionID = p.RegionID
	case fieldsyncv1.Role_ROLE_MARKETING:
		f.SharedAll = true
	case fieldsyncv1.Role_ROLE_ADMIN:
		f.All = true
	default:
		return Filter{}
	}
	return f
}

// Matches reports whether a record of type rt placed at sc is in the
// filter. Records of sensitive types (R11) match only their owner, even for
// admins and keys. Empty filter values never match empty record values, and
// a filter without tenant matches nothing.
func (f Filter) Matches(rt *RecordType, sc Scope) bool {
	if rt == nil || f.TenantID == "" {
		return false
	}
	if rt.Options.GetSensitive() {
		return rt.Owner != nil && f.OwnerID != "" && sc.Owner == f.OwnerID
	}
	// Scope values of fields the type lacks are never read: clear them.
	if rt.Owner == nil {
		sc.Owner = ""
	}
	if rt.Store == nil {
		sc.Store = ""
	}
	if rt.Region == nil {
		sc.Region = ""
	}
	switch {
	case f.CoversPlace(sc):
		return true
	case f.ReaderRole != fieldsyncv1.Role_ROLE_UNSPECIFIED && slices.Contains(rt.Options.GetReaderRoles(), f.ReaderRole):
		return true
	}
	return rt.Options.GetShared() && f.matchesShared(sc)
}

// CoversPlace reports whether the filter covers a place of the
// organisation as it covers an ordinary record placed there (one neither
// shared nor sensitive): a user (Owner, with the user's Store and Region),
// a store (Store and its Region) or a region (Region alone). It decides
// which people and places a caller may know of: whose devices appear in
// GetDeliveries, whose PHI GetPhi returns. Empty values never match.
func (f Filter) CoversPlace(sc Scope) bool {
	if f.TenantID == "" {
		return false
	}
	return f.All || (f.OwnerID != "" && sc.Owner == f.OwnerID) ||
		(f.StoreID != "" && sc.Store == f.StoreID) || (f.RegionID != "" && sc.Region == f.RegionID)
}

// CanRead is the visibility policy: whether p may read a record of type rt
// placed at sc. It is FilterFor(p).Matches(rt, sc), and every read path
// decides through it (or through the Filter, for many records at once):
// Pull and Watch, ListConflicts (a conflict is visible when its record is),
// GetDeliveries, GetMediaURL (a photo is visible when one live record
// referring to it is) and InsightsService. Records of sensitive types (R11)
// are readable here by their owner only; a director's A3 grant is honoured
// by InsightsService.ListOperationLogs alone, where each read is audited.
func CanRead(p *Principal, rt *RecordType, sc Scope) bool {
	return FilterFor(p).Matches(rt, sc)
}

func (f Filter) matchesShared(sc Scope) bool {
	return f.SharedAll || (f.SharedRegionID != "" && (sc.Region == "" || sc.Region == f.SharedRegionID))
}

// CheckWrite says whether p may make a change that moves a record of type
// rt from scope before (nil for a create) to after. Call it with the scope
// the record will have, after the engine placed it (place.go: scope_from,
// DefaultScope, and the checks that each scope value exists and lies where
// the caller works).
//
// An API key needs the type's writer_permission, and is not limited by
// scope. A device needs its role in writer_roles, may not create
// server_created types, and the record must be in its Filter both before
// and after the change: a rep cannot hand a record to another rep, a store
// manager can reassign a customer within the store. Records of sensitive
// types are written only by their owner, before and after.
//
// It returns nil or an *Error: CodePermissionDenied with a message naming
// the rule, CodeInvalid for a nil rt.
func CheckWrite(p *Principal, rt *RecordType, before *Scope, after Scope) error {
	switch {
	case rt == nil:
		return Errorf(CodeInvalid, "unknown record type")
	case p == nil || p.TenantID == "" || p.IsDevice() == p.IsAPIKey():
		return Errorf(CodePermissionDenied, "only an enrolled device or an API key may write records")
	case p.IsAPIKey():
		return checkKeyWrite(p, rt)
	}
	return checkDeviceWrite(p, rt, before, after)
}

// checkWriter says whether p may write records of type rt at all: a
// device's role must be in writer_roles, a key must hold writer_permission.
func checkWriter(p *Principal, rt *RecordType) error {
	if p.IsAPIKey() {
		return checkKeyWrite(p, rt)
	}
	if !slices.Contains(rt.Options.GetWriterRoles(), p.Role) {
		return Errorf(CodePermissionDenied, "role %s may not write %s records", p.Role, rt.Name)
	}
	return nil
}

func checkKeyWrite(p *Principal, rt *RecordType) error {
	perm := rt.Options.GetWriterPermission()
	switch {
	case perm == "":
		return Errorf(CodePermissionDenied, "%s records cannot be written with an API key", rt.Name)
	case !p.Can(perm):
		return Errorf(CodePermissionDenied, "writing %s records needs the API-key permission %q", rt.Name, perm)
	}
	return nil
}

func checkDeviceWrite(p *Principal, rt *RecordType, before *Scope, after Scope) error {
	f := FilterFor(p)
	switch {
	case !slices.Contains(rt.Options.GetWriterRoles(), p.Role):
		return Errorf(CodePermissionDenied, "role %s may not write %s records", p.Role, rt.Name)
	case before == nil && rt.Options.GetServerCreated():
		return Errorf(CodePermissionDenied, "%s records are created by the server only", rt.Name)
	case rt.Options.GetSensitive() && (after.Owner != p.UserID || (before != nil && before.Owner != p.UserID)):
		return Errorf(CodePermissionDenied, "%s records are sensitive: only their owner writes them", rt.Name)
	case before != nil && !f.Matches(rt, *before):
		return Errorf(CodePermissionDenied, "the record is outside the caller's scope")
	case !f.Matches(rt, after):
		return Errorf(CodePermissionDenied, "the change would place the record outside the caller's scope (owner %q, store %q, region %q)", after.Owner, after.Store, after.Region)
	}
	return nil
}

// DefaultScope fills the empty scope fields of a record a device creates
// from its principal: owner ← the user, store ← the user's store, region ←
// the user's region. The region of a shared type is left empty, since there
// it means "every region". Fields the type lacks stay empty; API keys and a
// nil principal get sc unchanged.
func DefaultScope(p *Principal, rt *RecordType, sc Scope) Scope {
	if p == nil || rt == nil || !p.IsDevice() {
		return sc
	}
	fill := func(v *string, has bool, def string) {
		if has && *v == "" {
			*v = def
		}
	}
	fill(&sc.Owner, rt.Owner != nil, p.UserID)
	fill(&sc.Store, rt.Store != nil, p.StoreID)
	fill(&sc.Region, rt.Region != nil && !rt.Options.GetShared(), p.RegionID)
	return sc
}
