package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// fleetServer is the edge server with device status kept and the fleet
// gauges on reg, its store's clock fixed at now.
type fleetServer struct {
	*edgeServer
	reg *prometheus.Registry
	mu  sync.Mutex
	now time.Time
}

func newFleetServer(t *testing.T) *fleetServer {
	f := &fleetServer{reg: prometheus.NewRegistry(), now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	f.edgeServer = newEdgeServer(t, 0, false, func(c *server.Config) { c.Fleet, c.Registry = c.Identity.(server.FleetStore), f.reg })
	f.db.Now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	return f
}

func (f *fleetServer) admin(token string) fieldsyncv1connect.AdminServiceClient {
	return fieldsyncv1connect.NewAdminServiceClient(f.srv.Client(), f.srv.URL, connect.WithInterceptors(bearer(token)))
}

func (f *fleetServer) syncAs(token string) fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(f.srv.Client(), f.srv.URL, connect.WithInterceptors(bearer(token)))
}

// devices lists the devices token may see, by id.
func (f *fleetServer) devices(t *testing.T, token string) map[string]*fieldsyncv1.Device {
	t.Helper()
	res, err := f.admin(token).ListDevices(context.Background(), connect.NewRequest(&fieldsyncv1.ListDevicesRequest{}))
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	out := map[string]*fieldsyncv1.Device{}
	for _, d := range res.Msg.GetDevices() {
		out[d.GetId()] = d
	}
	return out
}

func visitPush(seq uint64, status *fieldsyncv1.DeviceStatus) *fieldsyncv1.PushRequest {
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: "n", ActionTags: []string{"first_contact"}})
	return &fieldsyncv1.PushRequest{Status: status, Mutations: []*fieldsyncv1.Mutation{{
		Seq: seq, RecordType: "fieldsync.v1.Visit", RecordId: "visit-" + string(rune('a'+seq)), Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "action_tags"}}, Hlc: seq << 16,
	}}}
}

// TestDeviceStatusIsKeptAndShownWithinScope: a rep's device pushes with its
// status and a store staff's device pulls with its; the admin sees both,
// the region's director both, the store's manager the staff's only, a
// manager of another store neither, and a rep may not list devices.
func TestDeviceStatusIsKeptAndShownWithinScope(t *testing.T) {
	t.Parallel()
	f := newFleetServer(t)
	ctx := context.Background()
	rep, _ := f.creds.User("rep")
	staff, _ := f.creds.User("store_staff")
	lastSync := time.Date(2026, 5, 3, 18, 0, 0, 0, time.UTC)
	status := &fieldsyncv1.DeviceStatus{OutboxDepth: 3, OldestUnsyncedAge: durationpb.New(2 * time.Hour), PhotosWaiting: 2,
		AppVersion: "2.4.1", SdkVersion: "v1.3.0", LastSyncTime: timestamppb.New(lastSync)}
	if _, err := f.syncAs(rep.DeviceToken).Push(ctx, connect.NewRequest(visitPush(1, status))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.syncAs(staff.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Status: &fieldsyncv1.DeviceStatus{AppVersion: "2.4.0"}})); err != nil {
		t.Fatal(err)
	}

	got := f.devices(t, f.creds.AdminToken)[rep.DeviceID]
	s := got.GetStatus()
	if s.GetOutboxDepth() != 3 || s.GetPhotosWaiting() != 2 || s.GetAppVersion() != "2.4.1" || s.GetSdkVersion() != "v1.3.0" ||
		!s.GetLastSyncTime().AsTime().Equal(lastSync) || s.GetOldestUnsyncedAge().AsDuration() != 2*time.Hour {
		t.Fatalf("status = %v", s)
	}
	if !got.GetStatusTime().AsTime().Equal(f.now) || !got.GetOldestUnsyncedTime().AsTime().Equal(f.now.Add(-2*time.Hour)) {
		t.Fatalf("status time %v, oldest unsynced %v; want %v and 2 h before", got.GetStatusTime().AsTime(), got.GetOldestUnsyncedTime().AsTime(), f.now)
	}

	manager, _ := f.creds.User("store_manager")
	director, _ := f.creds.User("regional_director")
	other := f.otherStoreManager(t)
	for _, c := range []struct {
		who            string
		token          string
		seeRep, seeStf bool
	}{
		{"admin", f.creds.AdminToken, true, true},
		{"director", director.DeviceToken, true, true},
		{"store manager", manager.DeviceToken, false, true},
		{"other store's manager", other, false, false},
	} {
		ds := f.devices(t, c.token)
		if (ds[rep.DeviceID] != nil) != c.seeRep || (ds[staff.DeviceID] != nil) != c.seeStf {
			t.Errorf("%s sees rep %v, staff %v; want %v, %v", c.who, ds[rep.DeviceID] != nil, ds[staff.DeviceID] != nil, c.seeRep, c.seeStf)
		}
		if d := ds[staff.DeviceID]; d != nil && d.GetStatus().GetAppVersion() != "2.4.0" {
			t.Errorf("%s sees the staff's status %v", c.who, d.GetStatus())
		}
	}
	_, err := f.admin(rep.DeviceToken).ListDevices(ctx, connect.NewRequest(&fieldsyncv1.ListDevicesRequest{}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("rep lists devices: %v, want PermissionDenied", err)
	}
}

// otherStoreManager creates a store in the demo region and its manager
// through the admin API, and returns the manager's device token.
func (f *fleetServer) otherStoreManager(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	a := f.admin(f.creds.AdminToken)
	st, err := a.CreateStore(ctx, connect.NewRequest(&fieldsyncv1.CreateStoreRequest{Name: "Other", RegionId: f.creds.RegionID}))
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{DisplayName: "Other manager",
		Role: fieldsyncv1.Role_ROLE_STORE_MANAGER, StoreId: st.Msg.GetStore().GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	code, err := a.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: u.Msg.GetUser().GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	id := fieldsyncv1connect.NewIdentityServiceClient(f.srv.Client(), f.srv.URL)
	en, err := id.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code.Msg.GetEnrollmentCode(), DeviceName: "phone"}))
	if err != nil {
		t.Fatal(err)
	}
	return en.Msg.GetDeviceToken()
}

// TestBadDeviceStatusIsRefusedNamingTheField: a status out of its rules
// fails the whole call with InvalidArgument naming the field, and nothing
// of it is applied.
func TestBadDeviceStatusIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	f := newFleetServer(t)
	ctx := context.Background()
	rep, _ := f.creds.User("rep")
	c := f.syncAs(rep.DeviceToken)
	for _, tc := range []struct {
		field  string
		status *fieldsyncv1.DeviceStatus
	}{
		{"status.app_version", &fieldsyncv1.DeviceStatus{AppVersion: strings.Repeat("9", 65)}},
		{"status.sdk_version", &fieldsyncv1.DeviceStatus{SdkVersion: "v1\n<script>"}},
		{"status.oldest_unsynced_age", &fieldsyncv1.DeviceStatus{OutboxDepth: 1, OldestUnsyncedAge: durationpb.New(-time.Second)}},
		{"status.last_sync_time", &fieldsyncv1.DeviceStatus{LastSyncTime: timestamppb.New(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{"status.outbox_depth", &fieldsyncv1.DeviceStatus{OutboxDepth: 1 << 31}},
	} {
		_, err := c.Push(ctx, connect.NewRequest(visitPush(1, tc.status)))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("push with bad %s: %v, want InvalidArgument naming it", tc.field, err)
		}
		_, err = c.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Status: tc.status}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("pull with bad %s: %v, want InvalidArgument naming it", tc.field, err)
		}
	}
	if d := f.devices(t, f.creds.AdminToken)[rep.DeviceID]; d.GetStatus() != nil {
		t.Fatalf("a refused status was kept: %v", d.GetStatus())
	}
	res, err := c.Push(ctx, connect.NewRequest(visitPush(1, nil)))
	if err != nil || res.Msg.GetResults()[0].GetOutcome() != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		t.Fatalf("seq 1 after the refusals: %v, %v (a refused push applied it?)", res, err)
	}
}

// TestFleetGaugesComeFromTheStore: on scrape, devices count by staleness
// of their last report, the fleet's oldest unsynced write's age and the
// photos waiting are read from the store.
func TestFleetGaugesComeFromTheStore(t *testing.T) {
	t.Parallel()
	f := newFleetServer(t)
	ctx := context.Background()
	rep, _ := f.creds.User("rep")
	staff, _ := f.creds.User("store_staff")
	if _, err := f.syncAs(rep.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Status: &fieldsyncv1.DeviceStatus{
		OutboxDepth: 4, OldestUnsyncedAge: durationpb.New(90 * time.Minute), PhotosWaiting: 3}})); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.now = f.now.Add(2 * time.Hour)
	f.mu.Unlock()
	if _, err := f.syncAs(staff.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Status: &fieldsyncv1.DeviceStatus{PhotosWaiting: 1}})); err != nil {
		t.Fatal(err)
	}
	got := gauges(t, f.reg)
	want := map[string]float64{
		`fieldsync_fleet_devices{staleness="lt_1h"}`:        1,
		`fieldsync_fleet_devices{staleness="lt_1d"}`:        1,
		`fieldsync_fleet_devices{staleness="lt_7d"}`:        0,
		`fieldsync_fleet_devices{staleness="older"}`:        0,
		`fieldsync_fleet_devices{staleness="never"}`:        float64(len(f.creds.Users) - 2),
		`fieldsync_fleet_oldest_unsynced_write_age_seconds`: (90*time.Minute + 2*time.Hour).Seconds(),
		`fieldsync_fleet_photos_waiting`:                    4,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// gauges gathers reg's fleet gauges as name{labels} → value.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "fieldsync_fleet_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + `="` + l.GetValue() + `"}`
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestFleetShowsTheSyncJustDoneAndWhoseDeviceItIs: a store staff's device
// that has never synced pushes (its report says no last sync, as the
// device's own last sync is set only once the sync ends) and then pulls
// to the end: its store's manager sees the sync, dated by the server at
// that pull, and the staff's name, though a manager cannot list users.
// A pull that leaves more to pull is not a completed sync.
func TestFleetShowsTheSyncJustDoneAndWhoseDeviceItIs(t *testing.T) {
	t.Parallel()
	f := newFleetServer(t)
	ctx := context.Background()
	staff, _ := f.creds.User("store_staff")
	manager, _ := f.creds.User("store_manager")
	st := &fieldsyncv1.DeviceStatus{OutboxDepth: 1, OldestUnsyncedAge: durationpb.New(time.Minute), AppVersion: "3.0.0"}
	if _, err := f.syncAs(staff.DeviceToken).Push(ctx, connect.NewRequest(visitPush(1, st))); err != nil {
		t.Fatal(err)
	}
	d := f.devices(t, manager.DeviceToken)[staff.DeviceID]
	if d == nil {
		t.Fatal("the store manager does not see the staff's device")
	}
	if d.GetStatus().GetLastSyncTime() != nil {
		t.Fatalf("after the push only: last sync %v, want none", d.GetStatus().GetLastSyncTime().AsTime())
	}
	users, err := f.admin(f.creds.AdminToken).ListUsers(ctx, connect.NewRequest(&fieldsyncv1.ListUsersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, u := range users.Msg.GetUsers() {
		if u.GetId() == staff.UserID {
			name = u.GetDisplayName()
		}
	}
	if name == "" || d.GetUserName() != name {
		t.Fatalf("device's user name %q, want the staff's %q", d.GetUserName(), name)
	}

	f.mu.Lock()
	f.now = f.now.Add(5 * time.Second)
	pulled := f.now
	f.mu.Unlock()
	st.OutboxDepth, st.OldestUnsyncedAge = 0, nil
	res, err := f.syncAs(staff.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Limit: 1, Status: st}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Msg.GetHasMore() {
		t.Fatal("the demo data fit one record: the test needs a pull that leaves more")
	}
	if got := f.devices(t, manager.DeviceToken)[staff.DeviceID].GetStatus(); got.GetLastSyncTime() != nil || got.GetOutboxDepth() != 0 {
		t.Fatalf("after a pull with more to come: status %v, want outbox 0 and no last sync", got)
	}
	for cursor := res.Msg.GetNextCursor(); ; {
		r, err := f.syncAs(staff.DeviceToken).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: 500, Status: st}))
		if err != nil {
			t.Fatal(err)
		}
		if !r.Msg.GetHasMore() {
			break
		}
		cursor = r.Msg.GetNextCursor()
	}
	got := f.devices(t, manager.DeviceToken)[staff.DeviceID].GetStatus()
	if got.GetLastSyncTime() == nil || !got.GetLastSyncTime().AsTime().Equal(pulled) {
		t.Fatalf("after the pull to the end: last sync %v, want %v", got.GetLastSyncTime(), pulled)
	}
}
