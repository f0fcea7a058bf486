package syncengine

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// place decides where a caller's write puts the record, starting from the
// merged scope sc. A record that refers to another by a scope_from field
// (a visit to its customer) takes that record's region and store; on
// create, what a device leaves empty is its own place (DefaultScope). When
// the record is new or its place changed, every scope value must exist in
// the tenant, and a device other than an admin's may only place records
// where it works (checkPlace).
//
// Errors: CodePermissionDenied naming the field for a place the caller may
// not write or one that is not the referred record's; CodeInvalid naming
// the field for an id the tenant lacks (admins and keys).
func (e *Engine) place(tx Tx, w *write, cur *StoredRecord, next *State, sc Scope) (Scope, error) {
	if err := w.checkWriter(); err != nil {
		return Scope{}, err
	}
	from, err := e.parentPlace(tx, w, cur, next)
	if err != nil {
		return Scope{}, err
	}
	if from != nil {
		if sc, err = takeParent(w, sc, *from); err != nil {
			return Scope{}, err
		}
	}
	if cur == nil {
		sc = DefaultScope(w.p, w.rt, sc)
	}
	if cur != nil && cur.Scope == sc {
		return sc, nil
	}
	var parent Scope
	if from != nil {
		parent = *from
	}
	return sc, checkPlace(tx, w.p, w.rt, sc, parent)
}

// parentPlace returns the scope of the record the write refers to by its
// scope_from field, when the record is new or the write sets that field or
// a scope field; nil when there is none to take. Only a record of the
// named type that the caller may read counts (keys: any of the tenant's):
// a reference to one that is missing or hidden takes nothing, and the
// record is placed by the caller's own rules, so the answer is the same
// for both and a reference cannot file a record where its writer may not.
func (e *Engine) parentPlace(tx Tx, w *write, cur *StoredRecord, next *State) (*Scope, error) {
	pf, pt := w.rt.Parent, w.rt.ParentType
	if pf == nil || pt == nil || (cur != nil && !touchesPlace(w)) {
		return nil, nil
	}
	id := next.Value.ProtoReflect().Get(pf.Desc).String()
	if id == "" {
		return nil, nil
	}
	rec, err := tx.GetRecord(w.tenantID(), id)
	if err != nil || rec == nil || rec.Type != string(pt.Name) || (w.p.IsDevice() && !CanRead(w.p, pt, rec.Scope)) {
		return nil, err
	}
	sc := rec.Scope
	return &sc, nil
}

// touchesPlace reports whether the write's field mask names the scope_from
// field or a scope field.
func touchesPlace(w *write) bool {
	for _, f := range w.change.Fields {
		if spec := w.rt.Fields[f]; spec != nil && (spec == w.rt.Parent || spec.Scope != fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED) {
			return true
		}
	}
	return false
}

// takeParent gives sc the parent's region and store where the parent has
// one. A value the write itself sets to something else is refused.
func takeParent(w *write, sc, parent Scope) (Scope, error) {
	for _, f := range []struct {
		fd      protoreflect.FieldDescriptor
		v       *string
		want    string
		subject string
	}{{w.rt.Region, &sc.Region, parent.Region, "region"}, {w.rt.Store, &sc.Store, parent.Store, "store"}} {
		if f.fd == nil || f.want == "" || *f.v == f.want {
			continue
		}
		if *f.v != "" && slices.Contains(w.change.Fields, string(f.fd.Name())) {
			return Scope{}, Errorf(CodePermissionDenied, "%s: %q is not the %s of %s %q (%q)",
				f.fd.Name(), *f.v, f.subject, w.rt.ParentType.Name.Name(), w.rt.Parent.Desc.Name(), f.want)
		}
		*f.v = f.want
	}
	return sc, nil
}

// checkPlace checks each scope value of a record's new place: it must
// exist in the tenant (a store in the record's region), and a device
// other than an admin's places records only where it works — its own
// region (regional roles: any store of it), its own store, users it
// manages — or where the record it refers to (parent) lies.
func checkPlace(tx Tx, p *Principal, rt *RecordType, sc, parent Scope) error {
	limited := p.IsDevice() && p.Role != fieldsyncv1.Role_ROLE_ADMIN
	if err := checkRegion(tx, p, rt, sc, parent, limited); err != nil {
		return err
	}
	if err := checkStore(tx, p, rt, sc, parent, limited); err != nil {
		return err
	}
	return checkOwner(tx, p, rt, sc, limited)
}

func checkRegion(tx Tx, p *Principal, rt *RecordType, sc, parent Scope, limited bool) error {
	v := sc.Region
	switch {
	case rt.Region == nil || (v != "" && (v == parent.Region || (p.IsDevice() && v == p.RegionID))):
		return nil
	case v == "" && limited && !rt.Options.GetShared() && p.RegionID != "":
		return Errorf(CodePermissionDenied, "%s: required: your records lie in your region", rt.Region.Name())
	case v == "":
		return nil
	case limited && !rt.Options.GetShared():
		return Errorf(CodePermissionDenied, "%s: %q is not your region", rt.Region.Name(), v)
	}
	ok, err := tx.RegionExists(p.TenantID, v)
	if err == nil && !ok {
		err = unknownPlace(limited, rt.Region, "region", v)
	}
	return err
}

func checkStore(tx Tx, p *Principal, rt *RecordType, sc, parent Scope, limited bool) error {
	v := sc.Store
	switch {
	case rt.Store == nil:
		return nil
	case v == "" && limited && p.StoreID != "" && !rt.Options.GetShared():
		return Errorf(CodePermissionDenied, "%s: required: your records lie in your store", rt.Store.Name())
	case v == "" || (v == parent.Store && sc.Region == parent.Region) || (p.IsDevice() && v == p.StoreID && sc.Region == p.RegionID):
		return nil
	}
	region, ok, err := tx.StoreRegion(p.TenantID, v)
	switch {
	case err != nil:
		return err
	case !ok:
		return unknownPlace(limited, rt.Store, "store", v)
	case limited && v != parent.Store && v != p.StoreID && (FilterFor(p).RegionID == "" || region != p.RegionID):
		return Errorf(CodePermissionDenied, "%s: %q is not a store you work in", rt.Store.Name(), v)
	case rt.Region != nil && sc.Region != "" && region != sc.Region:
		return Errorf(CodeInvalid, "%s: store %q lies in region %q, not %q", rt.Region.Name(), v, region, sc.Region)
	}
	return nil
}

func checkOwner(tx Tx, p *Principal, rt *RecordType, sc Scope, limited bool) error {
	v := sc.Owner
	if rt.Owner == nil || v == "" || (p.IsDevice() && v == p.UserID) {
		return nil
	}
	at, ok, err := tx.UserPlace(p.TenantID, v)
	switch {
	case err != nil:
		return err
	case !ok:
		return unknownPlace(limited, rt.Owner, "user", v)
	case limited && !FilterFor(p).CoversPlace(Scope{Store: at.Store, Region: at.Region}):
		return Errorf(CodePermissionDenied, "%s: %q is not a user whose records you keep", rt.Owner.Name(), v)
	}
	return nil
}

// unknownPlace is the error for an id the tenant lacks: CodeInvalid for
// admins and keys; for other devices the answer of a place they may not
// write, so it says nothing about other places.
func unknownPlace(limited bool, fd protoreflect.FieldDescriptor, what, id string) error {
	if limited {
		return Errorf(CodePermissionDenied, "%s: %q is not a %s you work in", fd.Name(), id, what)
	}
	return Errorf(CodeInvalid, "%s: no %s %q in the tenant", fd.Name(), what, id)
}
