package syncengine_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

// world is an engine over a fresh SQLite store with one tenant: a region
// with a store, and one principal per role.
type world struct {
	t      testing.TB
	db     worldDB
	e      *syncengine.Engine
	tenant string
	region string
	shop   string
	p      map[string]*syncengine.Principal // by role name: rep, rep2, director, staff, manager, marketing, admin
	seq    map[string]uint64
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	db, err := openWorldDB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := syncengine.New(syncengine.Config{Store: db, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	w := &world{t: t, db: db, e: e, p: map[string]*syncengine.Principal{}, seq: map[string]uint64{}}
	tn, _ := db.CreateTenant(ctx, "T")
	r, _ := db.CreateRegion(ctx, tn.ID, "R")
	s, err := db.CreateStore(ctx, tn.ID, r.ID, "S")
	if err != nil {
		t.Fatal(err)
	}
	w.tenant, w.region, w.shop = tn.ID, r.ID, s.ID
	for name, role := range map[string]fieldsyncv1.Role{
		"rep": fieldsyncv1.Role_ROLE_REP, "rep2": fieldsyncv1.Role_ROLE_REP, "director": fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR,
		"staff": fieldsyncv1.Role_ROLE_STORE_STAFF, "manager": fieldsyncv1.Role_ROLE_STORE_MANAGER,
		"marketing": fieldsyncv1.Role_ROLE_MARKETING, "admin": fieldsyncv1.Role_ROLE_ADMIN,
	} {
		u := &syncengine.User{TenantID: tn.ID, DisplayName: name, Role: role}
		switch role {
		case fieldsyncv1.Role_ROLE_STORE_STAFF, fieldsyncv1.Role_ROLE_STORE_MANAGER:
			u.StoreID = s.ID
		case fieldsyncv1.Role_ROLE_MARKETING, fieldsyncv1.Role_ROLE_ADMIN:
		default:
			u.RegionID = r.ID
		}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.p[name] = u.Principal("dev-" + name)
	}
	return w
}

// mut builds a mutation of the next seq for a principal.
func (w *world) mut(who, id string, v proto.Message, fields ...string) syncengine.Mutation {
	w.seq[who]++
	return syncengine.Mutation{
		Seq: w.seq[who], Type: string(v.ProtoReflect().Descriptor().FullName()), RecordID: id,
		Value: v, Fields: fields, HLC: w.e.Clock().Now(),
	}
}

// del builds a delete of the next seq.
func (w *world) del(who, recordType, id string) syncengine.Mutation {
	w.seq[who]++
	return syncengine.Mutation{Seq: w.seq[who], Type: recordType, RecordID: id, Delete: true, HLC: w.e.Clock().Now()}
}

// push pushes mutations and fails the test on a call error.
func (w *world) push(who string, muts ...syncengine.Mutation) []*fieldsyncv1.MutationResult {
	w.t.Helper()
	res, err := w.e.Push(context.Background(), w.p[who], muts)
	if err != nil {
		w.t.Fatalf("push as %s: %v", who, err)
	}
	return res.Results
}

// pullAll pulls every page for a principal from a cursor and returns the
// records by id (last state wins) and the final cursor.
func (w *world) pullAll(who, cursor string) (map[string]*fieldsyncv1.Record, string) {
	w.t.Helper()
	out := map[string]*fieldsyncv1.Record{}
	for {
		res, err := w.e.Pull(context.Background(), w.p[who], cursor, 2)
		if err != nil {
			w.t.Fatalf("pull as %s: %v", who, err)
		}
		for _, r := range res.Records {
			out[r.Id] = r
		}
		cursor = res.NextCursor
		if !res.HasMore {
			return out, cursor
		}
	}
}

func newID() string { return ids.New() }

// raiseAlert raises an alert in the tenant as the server does: through
// records.Alerts over the engine, stamped by the engine's clock.
func (w *world) raiseAlert(ctx context.Context, a *fieldsyncv1.Alert) error {
	alerts := records.Alerts{Records: w.e, Now: func() time.Time { return w.e.Clock().Now().Time() }}
	return alerts.RaiseAlert(ctx, w.tenant, a)
}
