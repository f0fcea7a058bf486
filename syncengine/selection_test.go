package syncengine

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// everyShapeRegistry holds one record type per shape the scope rules tell
// apart: each combination of owner, store and region fields, plain, shared
// or sensitive (sensitive types have an owner and are not shared), and
// with no reader role, marketing, or rep and marketing as readers.
func everyShapeRegistry() *Registry {
	field := DefaultRegistry().Types()[0].Desc.Fields().Get(0) // any descriptor: only nil-ness counts
	pick := func(has bool) protoreflect.FieldDescriptor {
		if has {
			return field
		}
		return nil
	}
	readers := [][]fieldsyncv1.Role{nil, {fieldsyncv1.Role_ROLE_MARKETING}, {fieldsyncv1.Role_ROLE_REP, fieldsyncv1.Role_ROLE_MARKETING}}
	r := &Registry{byName: map[protoreflect.FullName]*RecordType{}}
	for bits := range 8 {
		owner, store, region := bits&1 != 0, bits&2 != 0, bits&4 != 0
		for kind, opts := range []*fieldsyncv1.RecordOptions{{}, {Shared: true}, {Sensitive: true}} {
			if opts.Sensitive && !owner {
				continue
			}
			for i, rs := range readers {
				o := &fieldsyncv1.RecordOptions{Record: true, Shared: opts.Shared, Sensitive: opts.Sensitive, ReaderRoles: rs}
				rt := &RecordType{Name: protoreflect.FullName(fmt.Sprintf("shape.o%v.s%v.r%v.k%d.rr%d", owner, store, region, kind, i)), Options: o,
					Owner: pick(owner), Store: pick(store), Region: pick(region)}
				r.byName[rt.Name] = rt
				r.sorted = append(r.sorted, rt)
			}
		}
	}
	return r
}

// drawFilter draws any filter, not only those FilterFor makes.
func drawFilter(t *rapid.T, pool func(string) []string) Filter {
	id := func(prefix, label string) string { return rapid.SampledFrom(pool(prefix)).Draw(t, label) }
	return Filter{
		TenantID: rapid.SampledFrom([]string{"", testTenant, testTenant, testTenant}).Draw(t, "tenant"),
		All:      rapid.IntRange(0, 5).Draw(t, "all") == 0,
		OwnerID:  id("u", "owner"), StoreID: id("s", "store"), RegionID: id("r", "region"),
		SharedRegionID: id("r", "shared region"), SharedAll: rapid.IntRange(0, 5).Draw(t, "shared all") == 0,
		ReaderRole: fieldsyncv1.Role(rapid.IntRange(0, 8).Draw(t, "reader role")),
	}
}

func TestSelectSelectsWhatMatchesMatchesProperty(t *testing.T) {
	t.Parallel()
	pool := func(prefix string) []string { return []string{"", prefix + "1", prefix + "2"} }
	for name, reg := range map[string]*Registry{"default": DefaultRegistry(), "every shape": everyShapeRegistry()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(t *rapid.T) {
				f := drawFilter(t, pool)
				sel := f.Select(reg)
				for _, rt := range reg.Types() {
					for _, owner := range pool("u") {
						for _, store := range pool("s") {
							for _, region := range pool("r") {
								sc := Scope{Owner: owner, Store: store, Region: region}
								if got, want := sel.Selects(string(rt.Name), sc), f.Matches(rt, sc); got != want {
									t.Fatalf("%+v: Select says %v, Matches %v for %s at %+v (terms %+v)", f, got, want, rt.Name, sc, sel.Terms)
								}
							}
						}
					}
				}
				if sel.Selects("fieldsync.v1.Unknown", Scope{}) {
					t.Fatalf("%+v selects a type the registry lacks", f)
				}
			})
		})
	}
}
