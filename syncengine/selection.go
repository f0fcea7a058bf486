package syncengine

import (
	"cmp"
	"slices"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// ScopeField names the scope value a Term compares.
type ScopeField int

// The scope values a Term compares; AnyPlace compares none.
const (
	AnyPlace ScopeField = iota
	ByOwner
	ByStore
	ByRegion
)

// Term selects the change rows of its record types whose Field equals
// Value, or every row of its types when Field is AnyPlace. An empty Value
// selects rows whose value is empty.
type Term struct {
	Field ScopeField
	Value string
	Types []string // sorted, without duplicates
}

// Selection is a Filter in the terms storage can index: a change row is in
// the filter exactly when one of the terms selects it. It lets storage read
// only the rows a caller may see (tenant × owner, store, region and type)
// instead of the whole tenant's log. TenantID is empty, and Terms nil, for
// a filter that matches nothing.
type Selection struct {
	TenantID string
	Terms    []Term
}

// Selects reports whether the term selects a row of type typ placed at sc.
func (t Term) Selects(typ string, sc Scope) bool {
	if _, ok := slices.BinarySearch(t.Types, typ); !ok {
		return false
	}
	return t.Field == AnyPlace || t.Value == sc.field(t.Field)
}

func (sc Scope) field(f ScopeField) string {
	switch f {
	case ByOwner:
		return sc.Owner
	case ByStore:
		return sc.Store
	case ByRegion:
		return sc.Region
	}
	return ""
}

// Selects reports whether one of the terms selects the row.
func (s Selection) Selects(typ string, sc Scope) bool {
	return slices.ContainsFunc(s.Terms, func(t Term) bool { return t.Selects(typ, sc) })
}

// Select turns the filter into terms over the record types of reg. Matches
// stays the policy: for every type of reg and every scope,
// Select(reg).Selects(rt.Name, sc) == Matches(rt, sc) (selection_test.go
// checks it), and types reg lacks are never selected.
func (f Filter) Select(reg *Registry) Selection {
	if f.TenantID == "" {
		return Selection{}
	}
	terms := map[termKey][]string{}
	for _, rt := range reg.Types() {
		for _, k := range f.typeTerms(rt) {
			terms[k] = append(terms[k], string(rt.Name))
		}
	}
	sel := Selection{TenantID: f.TenantID}
	for k, types := range terms {
		slices.Sort(types)
		sel.Terms = append(sel.Terms, Term{Field: k.field, Value: k.value, Types: types})
	}
	slices.SortFunc(sel.Terms, func(a, b Term) int {
		return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Value, b.Value))
	})
	return sel
}

type termKey struct {
	field ScopeField
	value string
}

// typeTerms lists the terms under which the filter reads records of type
// rt: Matches, rule by rule, for one type.
func (f Filter) typeTerms(rt *RecordType) []termKey {
	if rt.Options.GetSensitive() {
		if rt.Owner != nil && f.OwnerID != "" {
			return []termKey{{ByOwner, f.OwnerID}}
		}
		return nil
	}
	shared := rt.Options.GetShared()
	switch {
	case f.All, f.ReaderRole != fieldsyncv1.Role_ROLE_UNSPECIFIED && slices.Contains(rt.Options.GetReaderRoles(), f.ReaderRole):
		return []termKey{{AnyPlace, ""}}
	case shared && (f.SharedAll || f.SharedRegionID != "" && rt.Region == nil):
		return []termKey{{AnyPlace, ""}} // a shared type without region is everywhere
	}
	var ks []termKey
	add := func(has bool, field ScopeField, value string) {
		if has && value != "" {
			ks = append(ks, termKey{field, value})
		}
	}
	add(rt.Owner != nil, ByOwner, f.OwnerID)
	add(rt.Store != nil, ByStore, f.StoreID)
	add(rt.Region != nil, ByRegion, f.RegionID)
	if shared && f.SharedRegionID != "" {
		ks = append(ks, termKey{ByRegion, ""})
		if f.SharedRegionID != f.RegionID {
			ks = append(ks, termKey{ByRegion, f.SharedRegionID})
		}
	}
	return ks
}
