package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// dashWorld is the demo organisation plus a second store in the demo
// region (with its manager and a staff member) and a second region (with
// its director and a store), PHI for every place over the last 30 days,
// and alerts written as the alert consumer writes them.
type dashWorld struct {
	*edgeServer
	engine                          *syncengine.Engine
	tenant, region, store           string
	store2, region2, store3         string
	manager2, staff2, director2     string // user ids
	manager2Token, director2Token   string
	today                           time.Time
	a1, a1Cross, a2, a6, diagOther  string // record ids
	diagA, diagB, stockID, terminal string
}

func newDashWorld(t *testing.T, edits ...func(*server.Config)) *dashWorld {
	t.Helper()
	w := &dashWorld{today: time.Now().UTC()}
	w.edgeServer = newEdgeServer(t, 0, false, func(c *server.Config) {
		c.Insights = c.Identity.(server.InsightsBackend)
		c.Dashboard = c.Identity.(server.DashboardBackend)
		w.engine = c.Sync.(*syncengine.Engine)
		for _, edit := range edits {
			edit(c)
		}
	})
	w.tenant, w.region, w.store = w.creds.TenantID, w.creds.RegionID, w.creds.StoreID
	ctx := context.Background()
	s2, err := w.db.CreateStore(ctx, w.tenant, w.region, "Hangzhou West Store")
	must(t, err)
	r2, err := w.db.CreateRegion(ctx, w.tenant, "South China")
	must(t, err)
	s3, err := w.db.CreateStore(ctx, w.tenant, r2.ID, "Shenzhen Store")
	must(t, err)
	w.store2, w.region2, w.store3 = s2.ID, r2.ID, s3.ID
	w.manager2, w.manager2Token = w.user(t, "Zhou manager", fieldsyncv1.Role_ROLE_STORE_MANAGER, w.region, w.store2)
	w.staff2, _ = w.user(t, "Wu staff", fieldsyncv1.Role_ROLE_STORE_STAFF, w.region, w.store2)
	w.director2, w.director2Token = w.user(t, "He director", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, w.region2, "")
	w.seedPhi(t)
	w.seedAlerts(t)
	return w
}

// user creates a user with an enrolled device and returns both.
func (w *dashWorld) user(t *testing.T, name string, role fieldsyncv1.Role, region, store string) (string, string) {
	t.Helper()
	ctx := context.Background()
	u := &syncengine.User{TenantID: w.tenant, DisplayName: name, Role: role, RegionID: region, StoreID: store}
	must(t, w.db.CreateUser(ctx, u))
	code, _, err := w.db.IssueEnrollmentCode(ctx, w.tenant, u.ID, "", time.Hour)
	must(t, err)
	_, token, err := w.db.Enroll(ctx, code, "phone", "test")
	must(t, err)
	return u.ID, token
}

func (w *dashWorld) userID(role string) string {
	u, ok := w.creds.User(role)
	if !ok {
		w.t.Fatalf("no demo %s", role)
	}
	return u.UserID
}

// seedPhi writes a PHI day for every place and person on each of the last
// 30 days, and one 40 days ago (outside the default range).
func (w *dashWorld) seedPhi(t *testing.T) {
	t.Helper()
	places := map[fieldsyncv1.ScopeKind][]string{
		fieldsyncv1.ScopeKind_SCOPE_KIND_REGION: {w.region, w.region2},
		fieldsyncv1.ScopeKind_SCOPE_KIND_STORE:  {w.store, w.store2, w.store3},
		fieldsyncv1.ScopeKind_SCOPE_KIND_REP: {w.userID("rep"), w.userID("store_staff"), w.userID("store_manager"),
			w.manager2, w.staff2, w.director2},
	}
	must(t, w.db.InsightsWrite(context.Background(), func(tx insightstore.Tx) error {
		for kind, ids := range places {
			for _, id := range ids {
				for d := range 30 {
					if err := tx.PutPhiDay(w.tenant, phiDay(kind, id, w.today.AddDate(0, 0, -d), float64(50+d))); err != nil {
						return err
					}
				}
				if err := tx.PutPhiDay(w.tenant, phiDay(kind, id, w.today.AddDate(0, 0, -40), 1)); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

func phiDay(kind fieldsyncv1.ScopeKind, id string, day time.Time, index float64) *fieldsyncv1.PhiDay {
	return &fieldsyncv1.PhiDay{ScopeKind: kind, ScopeId: id, Date: day.Format("2006-01-02"), Index: index,
		KeyActionCompletion: 0.9, ActionQuality: 0.8, CollaborationTimeliness: 0.7, HasKeyAction: true, EventCount: 3}
}

func photo(c byte) *fieldsyncv1.PhotoRef {
	return &fieldsyncv1.PhotoRef{Sha256: strings.Repeat(string(c), 64), SizeBytes: 1000, ContentType: "image/jpeg"}
}

// write stores a record as the server does and returns its id.
func (w *dashWorld) write(t *testing.T, typ, id string, v proto.Message) string {
	t.Helper()
	if _, err := w.engine.ServerWrite(context.Background(), w.tenant, typ, id, v, syncengine.AllFields(v)); err != nil {
		t.Fatalf("write %s: %v", id, err)
	}
	return id
}

// seedAlerts: A1 to the store manager citing two diagnoses of the store;
// an A1 to the same manager citing one of the store and one of store 2
// (the manager may read only the first now); A2 to the rep citing the
// demo stock level and its terminal; A6 to the manager citing two
// diagnoses sharing a photo.
func (w *dashWorld) seedAlerts(t *testing.T) {
	t.Helper()
	staff, manager, rep := w.userID("store_staff"), w.userID("store_manager"), w.userID("rep")
	diag := func(id, store, owner, conclusion string, photos ...*fieldsyncv1.PhotoRef) string {
		return w.write(t, "fieldsync.v1.Diagnosis", id, &fieldsyncv1.Diagnosis{OwnerUserId: owner, RegionId: w.region, StoreId: store,
			Conclusion: conclusion, VehicleModel: "Audi A4L", Photos: photos})
	}
	w.diagA = diag("diag-a", w.store, staff, "worn brake pads", photo('a'))
	w.diagB = diag("diag-b", w.store, staff, "warped brake discs", photo('b'), photo('f'))
	w.diagOther = diag("diag-other", w.store2, w.staff2, "warped brake discs", photo('f'))
	alert := func(id, to string, kind fieldsyncv1.AlertKind, related ...string) string {
		return w.write(t, "fieldsync.v1.Alert", id, &fieldsyncv1.Alert{RecipientUserId: to, Kind: kind, Title: id,
			RelatedRecordIds: related, DedupKey: id})
	}
	w.a1 = alert("alert-a1", manager, fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES, w.diagA, w.diagB)
	w.a1Cross = alert("alert-a1-cross", manager, fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES, w.diagB, w.diagOther, "no-such-record")
	w.terminal = w.write(t, "fieldsync.v1.Customer", "ruijin", &fieldsyncv1.Customer{Name: "Ruijin Hospital",
		Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL, AssignedRepId: rep, RegionId: w.region})
	w.stockID = w.write(t, "fieldsync.v1.StockLevel", "stock-ruijin-xk200", &fieldsyncv1.StockLevel{RegionId: w.region, TerminalId: w.terminal,
		ProductId: "XK-200", OnHand: 12, SafetyStock: 20, HistoricalPurchasePriceCents: 128000, AgreementPriceCents: 119000, Currency: "CNY"})
	w.a2 = alert("alert-a2", rep, fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT, w.stockID, w.terminal)
	w.a6 = alert("alert-a6", manager, fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO, w.diagB, w.diagOther)
}

func (w *dashWorld) dashboard(token string) fieldsyncv1connect.DashboardServiceClient {
	return fieldsyncv1connect.NewDashboardServiceClient(w.srv.Client(), w.srv.URL, connect.WithInterceptors(bearer(token)))
}

func (w *dashWorld) drill(token string, kind fieldsyncv1.ScopeKind, id string) (*fieldsyncv1.GetPhiDrilldownResponse, error) {
	res, err := w.dashboard(token).GetPhiDrilldown(context.Background(), connect.NewRequest(&fieldsyncv1.GetPhiDrilldownRequest{ScopeKind: kind, ScopeId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// secondRep is the demo's other rep.
func secondRep(w *dashWorld) string {
	for _, u := range w.creds.Users {
		if u.Role == "rep" && u.UserID != w.userID("rep") {
			return u.UserID
		}
	}
	w.t.Fatal("the demo has one rep")
	return ""
}

func childIDs(res *fieldsyncv1.GetPhiDrilldownResponse) []string {
	var out []string
	for _, c := range res.GetChildren() {
		out = append(out, c.GetScopeKind().String()[len("SCOPE_KIND_"):]+":"+c.GetScopeId())
	}
	return out
}

// TestPhiDrilldownGivesEachChildsSeries: a director's region lists its
// stores then its reps, a store manager's store its people, each with the
// last 30 days of PHI in date order.
func TestPhiDrilldownGivesEachChildsSeries(t *testing.T) {
	t.Parallel()
	w := newDashWorld(t)
	region, store := fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, fieldsyncv1.ScopeKind_SCOPE_KIND_STORE
	res, err := w.drill(w.token("regional_director"), region, w.region)
	if err != nil {
		t.Fatalf("director drills into the region: %v", err)
	}
	// Stores by name (Hangzhou before Shanghai), then the region's two reps.
	rep1, rep2 := w.userID("rep"), secondRep(w)
	want := []string{"STORE:" + w.store2, "STORE:" + w.store}
	got := childIDs(res)
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || !strings.Contains(strings.Join(got[2:], ","), "REP:"+rep1) ||
		!strings.Contains(strings.Join(got[2:], ","), "REP:"+rep2) {
		t.Fatalf("children = %v, want %v then the reps %s and %s", got, want, rep1, rep2)
	}
	wantFrom := w.today.AddDate(0, 0, -29).Format("2006-01-02")
	if res.GetFromDate() != wantFrom || res.GetToDate() != w.today.Format("2006-01-02") {
		t.Errorf("range %s..%s, want %s..today", res.GetFromDate(), res.GetToDate(), wantFrom)
	}
	if p := res.GetParent(); p.GetScopeId() != w.region || p.GetName() != "East China" || len(p.GetDays()) != 30 {
		t.Errorf("parent = %s %q with %d days", p.GetScopeId(), p.GetName(), len(p.GetDays()))
	}
	for _, c := range res.GetChildren()[:3] {
		days := c.GetDays()
		if len(days) != 30 || days[0].GetDate() != wantFrom || days[29].GetIndex() != 50 {
			t.Errorf("child %s: %d days from %s", c.GetScopeId(), len(days), days[0].GetDate())
		}
	}
	res, err = w.drill(w.token("store_manager"), store, w.store)
	if err != nil {
		t.Fatalf("manager drills into the store: %v", err)
	}
	got = childIDs(res)
	if len(got) != 2 || !strings.Contains(strings.Join(got, ","), "REP:"+w.userID("store_staff")) || res.GetChildren()[0].GetRole() == 0 {
		t.Fatalf("store children = %v, want its staff and manager with their roles", got)
	}
	if _, err := w.drill(w.creds.AdminToken, region, w.region2); err != nil {
		t.Errorf("admin drills into another region: %v", err)
	}
}

// TestPhiDrilldownIsRefusedOutsideTheCallersScope: a store manager only
// their store, a director only their region, a rep neither.
func TestPhiDrilldownIsRefusedOutsideTheCallersScope(t *testing.T) {
	t.Parallel()
	w := newDashWorld(t)
	region, store := fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, fieldsyncv1.ScopeKind_SCOPE_KIND_STORE
	cases := []struct {
		who, token string
		kind       fieldsyncv1.ScopeKind
		id         string
	}{
		{"store manager, another store", w.token("store_manager"), store, w.store2},
		{"store manager, their region", w.token("store_manager"), region, w.region},
		{"second store's manager, the first store", w.manager2Token, store, w.store},
		{"director, another region", w.token("regional_director"), region, w.region2},
		{"director, a store of another region", w.token("regional_director"), store, w.store3},
		{"second director, the first region", w.director2Token, region, w.region},
		{"rep, their region", w.token("rep"), region, w.region},
		{"director, an unknown region", w.token("regional_director"), region, "no-such-region"},
	}
	for _, c := range cases {
		if _, err := w.drill(c.token, c.kind, c.id); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: %v, want PermissionDenied", c.who, err)
		}
	}
	if _, err := w.drill(w.creds.AdminToken, store, "no-such-store"); connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "scope_id") {
		t.Errorf("admin, unknown store: %v, want NotFound naming scope_id", err)
	}
}

// TestDashboardBadInputNamesTheField: every malformed request is
// InvalidArgument with the field in the message.
func TestDashboardBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	w := newDashWorld(t)
	ctx := context.Background()
	c := w.dashboard(w.token("regional_director"))
	region := fieldsyncv1.ScopeKind_SCOPE_KIND_REGION
	drills := map[string]*fieldsyncv1.GetPhiDrilldownRequest{
		"scope_kind": {ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP, ScopeId: w.region},
		"scope_id":   {ScopeKind: region},
		"from_date":  {ScopeKind: region, ScopeId: w.region, FromDate: "2026-13-45"},
		"to_date":    {ScopeKind: region, ScopeId: w.region, ToDate: "01/02/2026"},
	}
	for field, req := range drills {
		_, err := c.GetPhiDrilldown(ctx, connect.NewRequest(req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want InvalidArgument naming it", field, err)
		}
	}
	for name, req := range map[string]*fieldsyncv1.GetPhiDrilldownRequest{
		"reversed":  {ScopeKind: region, ScopeId: w.region, FromDate: "2026-05-02", ToDate: "2026-05-01"},
		"too long":  {ScopeKind: region, ScopeId: w.region, FromDate: "2026-01-01", ToDate: "2026-05-01"},
		"bad month": {ScopeKind: region, ScopeId: w.region, FromDate: "2026-02-30", ToDate: "2026-03-01"},
	} {
		_, err := c.GetPhiDrilldown(ctx, connect.NewRequest(req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "from_date") {
			t.Errorf("%s: %v, want InvalidArgument naming from_date", name, err)
		}
	}
	for id, code := range map[string]connect.Code{"": connect.CodeInvalidArgument, strings.Repeat("x", 65): connect.CodeInvalidArgument,
		"no-such-alert": connect.CodeNotFound} {
		_, err := w.dashboard(w.token("store_manager")).GetAlertDetail(ctx, connect.NewRequest(&fieldsyncv1.GetAlertDetailRequest{AlertId: id}))
		if connect.CodeOf(err) != code || !strings.Contains(err.Error(), "alert_id") {
			t.Errorf("alert_id %q: %v, want %v naming alert_id", id, err, code)
		}
	}
	// A record that is not an alert, readable by the caller.
	_, err := w.dashboard(w.token("store_manager")).GetAlertDetail(ctx, connect.NewRequest(&fieldsyncv1.GetAlertDetailRequest{AlertId: w.diagA}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "alert_id") {
		t.Errorf("a diagnosis as alert: %v", err)
	}
}

func (w *dashWorld) detail(token, id string) (*fieldsyncv1.GetAlertDetailResponse, error) {
	res, err := w.dashboard(token).GetAlertDetail(context.Background(), connect.NewRequest(&fieldsyncv1.GetAlertDetailRequest{AlertId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func photoHashes(c *fieldsyncv1.CitedRecord) []string {
	var out []string
	for _, p := range c.GetPhotos() {
		out = append(out, p.GetField()+":"+p.GetPhoto().GetSha256()[:1])
	}
	return out
}

// TestAlertDetailShowsTheCitedRecordsTheCallerMayRead: A1 with both
// diagnoses and their photos, A2 with the stock's two prices, A6 with both
// records and the shared photo; a cited record outside the caller's scope
// is withheld; another manager's alert is refused.
func TestAlertDetailShowsTheCitedRecordsTheCallerMayRead(t *testing.T) {
	t.Parallel()
	w := newDashWorld(t)
	manager := w.token("store_manager")
	res, err := w.detail(manager, w.a1)
	if err != nil {
		t.Fatalf("A1: %v", err)
	}
	recs := res.GetRecords()
	if res.GetAlert().GetKind() != fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES || len(recs) != 2 ||
		recs[0].GetId() != w.diagA || recs[1].GetId() != w.diagB || len(res.GetUnavailableRecordIds()) != 0 {
		t.Fatalf("A1 detail = %v", res)
	}
	var d fieldsyncv1.Diagnosis
	if err := recs[1].GetValue().UnmarshalTo(&d); err != nil || d.GetConclusion() != "warped brake discs" || recs[1].GetRecordType() != "fieldsync.v1.Diagnosis" {
		t.Errorf("second diagnosis = %v %v", &d, err)
	}
	if got := strings.Join(photoHashes(recs[0]), ",") + "|" + strings.Join(photoHashes(recs[1]), ","); got != "photos:a|photos:b,photos:f" {
		t.Errorf("photos = %s", got)
	}

	res, err = w.detail(w.token("rep"), w.a2)
	if err != nil {
		t.Fatalf("A2: %v", err)
	}
	var stock fieldsyncv1.StockLevel
	if len(res.GetRecords()) != 2 || res.GetRecords()[0].GetValue().UnmarshalTo(&stock) != nil ||
		stock.GetHistoricalPurchasePriceCents() != 128000 || stock.GetAgreementPriceCents() != 119000 || res.GetRecords()[1].GetId() != w.terminal {
		t.Errorf("A2 detail = %v", res)
	}

	res, err = w.detail(manager, w.a6)
	if err != nil {
		t.Fatalf("A6: %v", err)
	}
	if len(res.GetRecords()) != 1 || res.GetRecords()[0].GetId() != w.diagB || strings.Join(res.GetUnavailableRecordIds(), ",") != w.diagOther {
		t.Errorf("A6 for the first store's manager = %v", res)
	}
	res, err = w.detail(w.creds.AdminToken, w.a6)
	if err != nil || len(res.GetRecords()) != 2 || photoHashes(res.GetRecords()[1])[0] != "photos:f" {
		t.Errorf("A6 for the admin: both records with the shared photo: %v %v", res, err)
	}

	res, err = w.detail(manager, w.a1Cross)
	if err != nil || len(res.GetRecords()) != 1 || strings.Join(res.GetUnavailableRecordIds(), ",") != w.diagOther+",no-such-record" {
		t.Errorf("cross-store A1 = %v %v, want diag-b only", res, err)
	}
	for who, token := range map[string]string{"another store's manager": w.manager2Token, "another region's director": w.director2Token,
		"the store's staff": w.token("store_staff"), "the region's director": w.token("regional_director")} {
		if _, err := w.detail(token, w.a1); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s reads the manager's alert: %v, want NotFound (as for a missing id)", who, err)
		}
	}
}
