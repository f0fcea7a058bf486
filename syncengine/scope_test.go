package syncengine

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

const testTenant = "t1"

func device(user string, role fieldsyncv1.Role, store, region string) *Principal {
	return &Principal{TenantID: testTenant, UserID: user, DeviceID: "d-" + user, Role: role, StoreID: store, RegionID: region}
}

func apiKey(perms ...string) *Principal {
	return &Principal{TenantID: testTenant, APIKeyID: "k1", Permissions: perms}
}

var (
	rep       = device("u-rep", fieldsyncv1.Role_ROLE_REP, "", "r1")
	staff     = device("u-staff", fieldsyncv1.Role_ROLE_STORE_STAFF, "s1", "r1")
	manager   = device("u-mgr", fieldsyncv1.Role_ROLE_STORE_MANAGER, "s1", "r1")
	director  = device("u-dir", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, "", "r1")
	advisor   = device("u-ta", fieldsyncv1.Role_ROLE_TECH_ADVISOR, "", "r1")
	marketing = device("u-mkt", fieldsyncv1.Role_ROLE_MARKETING, "", "")
	admin     = device("u-admin", fieldsyncv1.Role_ROLE_ADMIN, "", "")
)

// placed is a record of a type at a scope, for the visibility table.
type placed struct {
	typ string
	sc  Scope
}

var scopeRecords = map[string]placed{
	"rep visit":         {"Visit", Scope{Owner: "u-rep", Region: "r1"}},
	"store visit":       {"Visit", Scope{Owner: "u-staff2", Store: "s1", Region: "r1"}},
	"other region":      {"Visit", Scope{Owner: "u-x", Store: "s2", Region: "r2"}},
	"rep surgery":       {"SurgerySupport", Scope{Owner: "u-rep", Region: "r1"}},
	"store diagnosis":   {"Diagnosis", Scope{Owner: "u-staff2", Store: "s1", Region: "r1"}},
	"rep customer":      {"Customer", Scope{Owner: "u-rep", Region: "r1"}},
	"stock r1":          {"StockLevel", Scope{Region: "r1"}},
	"stock r2":          {"StockLevel", Scope{Region: "r2"}},
	"stock everywhere":  {"StockLevel", Scope{}},
	"material all":      {"CampaignMaterial", Scope{Owner: "u-mkt"}},
	"material r2":       {"CampaignMaterial", Scope{Owner: "u-mkt", Region: "r2"}},
	"rep feedback":      {"CampaignFeedback", Scope{Owner: "u-rep", Region: "r1"}},
	"store rating":      {"SatisfactionRating", Scope{Store: "s1", Region: "r1"}},
	"rep op log":        {"DeviceOperationLog", Scope{Owner: "u-rep", Region: "r1"}},
	"staff op log":      {"DeviceOperationLog", Scope{Owner: "u-staff", Region: "r1"}},
	"manager alert":     {"Alert", Scope{Owner: "u-mgr"}},
	"unassigned client": {"Customer", Scope{Store: "s1", Region: "r1"}},
}

func TestFilterMatchesWhatEachRoleMaySee(t *testing.T) {
	t.Parallel()
	shared := []string{"stock r1", "stock everywhere", "material all"}
	region := []string{"rep visit", "store visit", "rep surgery", "store diagnosis", "rep customer", "rep feedback", "store rating", "unassigned client"}
	var allButLogs []string
	for name, r := range scopeRecords {
		if r.typ != "DeviceOperationLog" {
			allButLogs = append(allButLogs, name)
		}
	}
	tests := []struct {
		name string
		p    *Principal
		sees []string
	}{
		{"rep: own records and the shared ones of the region", rep,
			append([]string{"rep visit", "rep surgery", "rep customer", "rep feedback", "rep op log"}, shared...)},
		{"store staff: the store's records", staff,
			append([]string{"store visit", "store diagnosis", "store rating", "staff op log", "unassigned client"}, shared...)},
		{"store manager: the store's records and own alerts", manager,
			append([]string{"store visit", "store diagnosis", "store rating", "manager alert", "unassigned client"}, shared...)},
		{"regional director: the region's records", director, append(slices.Clone(region), shared...)},
		{"tech advisor: the region's records", advisor, append(slices.Clone(region), shared...)},
		{"marketing: every shared record and all feedback", marketing,
			[]string{"stock r1", "stock r2", "stock everywhere", "material all", "material r2", "rep feedback"}},
		{"admin: everything but others' operation logs", admin, allButLogs},
		{"key with records:read: everything but operation logs", apiKey(PermRecordsRead), allButLogs},
		{"key without records:read: nothing", apiKey("stock:write"), nil},
		{"nil principal: nothing", nil, nil},
		{"principal without tenant: nothing", &Principal{UserID: "u-rep", DeviceID: "d", Role: fieldsyncv1.Role_ROLE_ADMIN}, nil},
		{"unknown role: nothing", device("u-rep", 42, "s1", "r1"), nil},
		{"device and key at once: nothing", &Principal{TenantID: testTenant, UserID: "u-rep", DeviceID: "d", APIKeyID: "k", Role: fieldsyncv1.Role_ROLE_ADMIN}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := FilterFor(tt.p)
			for name, r := range scopeRecords {
				if got, want := f.Matches(recordType(t, r.typ), r.sc), slices.Contains(tt.sees, name); got != want {
					t.Errorf("%s (%s %+v): Matches = %v, want %v", name, r.typ, r.sc, got, want)
				}
			}
		})
	}
}

func TestFilterForIsPlainDataPerRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    *Principal
		want Filter
	}{
		{rep, Filter{TenantID: testTenant, OwnerID: "u-rep", SharedRegionID: "r1", ReaderRole: rep.Role}},
		{manager, Filter{TenantID: testTenant, OwnerID: "u-mgr", StoreID: "s1", SharedRegionID: "r1", ReaderRole: manager.Role}},
		{advisor, Filter{TenantID: testTenant, OwnerID: "u-ta", RegionID: "r1", SharedRegionID: "r1", ReaderRole: advisor.Role}},
		{marketing, Filter{TenantID: testTenant, OwnerID: "u-mkt", SharedAll: true, ReaderRole: marketing.Role}},
		{admin, Filter{TenantID: testTenant, OwnerID: "u-admin", All: true, ReaderRole: admin.Role}},
		{apiKey(PermRecordsRead), Filter{TenantID: testTenant, All: true}},
		{nil, Filter{}},
	}
	for _, tt := range tests {
		if got := FilterFor(tt.p); got != tt.want {
			t.Errorf("FilterFor(%+v) = %+v, want %+v", tt.p, got, tt.want)
		}
	}
	if (Filter{All: true}).Matches(recordType(t, "Visit"), Scope{}) {
		t.Error("a filter without tenant matched")
	}
	if FilterFor(rep).Matches(nil, Scope{}) {
		t.Error("a nil record type matched")
	}
}

func TestCheckWriteEnforcesRolesPermissionsAndScope(t *testing.T) {
	t.Parallel()
	at := func(owner, store, region string) *Scope { return &Scope{Owner: owner, Store: store, Region: region} }
	tests := []struct {
		name    string
		p       *Principal
		typ     string
		before  *Scope
		after   Scope
		wantErr string // "" for allowed
	}{
		{"a rep creates a visit of their own", rep, "Visit", nil, *at("u-rep", "", "r1"), ""},
		{"a rep edits their visit", rep, "Visit", at("u-rep", "", "r1"), *at("u-rep", "", "r1"), ""},
		{"a rep cannot hand their visit to another rep", rep, "Visit", at("u-rep", "", "r1"), *at("u-rep2", "", "r1"), "outside the caller's scope"},
		{"a rep cannot edit another rep's visit", rep, "Visit", at("u-rep2", "", "r1"), *at("u-rep", "", "r1"), "record is outside"},
		{"a rep cannot write quotes", rep, "Quote", nil, *at("u-rep", "", "r1"), "role ROLE_REP may not write"},
		{"a store manager reassigns a customer within the store", manager, "Customer", at("u-rep", "s1", "r1"), *at("u-rep2", "s1", "r1"), ""},
		{"a store manager cannot move a customer to another store", manager, "Customer", at("u-rep", "s1", "r1"), *at("u-rep", "s2", "r1"), "outside the caller's scope"},
		{"store staff create a quote in their store", staff, "Quote", nil, *at("u-staff", "s1", "r1"), ""},
		{"a director edits a surgery support of the region", director, "SurgerySupport", at("u-rep", "", "r1"), *at("u-rep", "", "r1"), ""},
		{"a director cannot pull a record in from another region", director, "Visit", at("u-x", "", "r2"), *at("u-x", "", "r1"), "record is outside"},
		{"a device cannot create an alert", rep, "Alert", nil, *at("u-rep", "", ""), "created by the server only"},
		{"a device acknowledges its own alert", rep, "Alert", at("u-rep", "", ""), *at("u-rep", "", ""), ""},
		{"a device cannot touch someone else's alert", rep, "Alert", at("u-mgr", "", ""), *at("u-mgr", "", ""), "record is outside"},
		{"a rep writes their own operation log", rep, "DeviceOperationLog", nil, *at("u-rep", "", "r1"), ""},
		{"store staff cannot write a rep's operation log", staff, "DeviceOperationLog", at("u-rep", "", "r1"), *at("u-rep", "", "r1"), "only their owner"},
		{"marketing publishes tenant-wide material", marketing, "CampaignMaterial", nil, *at("u-mkt", "", ""), ""},
		{"an admin writes any customer", admin, "Customer", at("u-rep", "s9", "r9"), *at("u-rep2", "s8", "r8"), ""},
		{"an admin device cannot write what its role may not", admin, "Visit", nil, *at("u-admin", "", ""), "role ROLE_ADMIN may not write"},
		{"a key with stock:write writes stock anywhere", apiKey("stock:write"), "StockLevel", nil, *at("", "", "r7"), ""},
		{"a key without the permission cannot", apiKey(PermRecordsRead), "StockLevel", nil, Scope{}, `needs the API-key permission "stock:write"`},
		{"a key cannot write a type without writer_permission", apiKey("stock:write"), "Visit", nil, Scope{}, "cannot be written with an API key"},
		{"a nil principal cannot write", nil, "Visit", nil, Scope{}, "only an enrolled device"},
		{"a principal that is both device and key cannot write", &Principal{TenantID: testTenant, DeviceID: "d", APIKeyID: "k"}, "Visit", nil, Scope{}, "only an enrolled device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckWrite(tt.p, recordType(t, tt.typ), tt.before, tt.after)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckWrite = %v, want allowed", err)
			case tt.wantErr != "" && (!IsCode(err, CodePermissionDenied) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("CheckWrite = %v, want PermissionDenied with %q", err, tt.wantErr)
			}
		})
	}
	if err := CheckWrite(rep, nil, nil, Scope{}); !IsCode(err, CodeInvalid) {
		t.Fatalf("CheckWrite with a nil type = %v, want CodeInvalid", err)
	}
}

func TestDefaultScopeFillsEmptyFieldsFromTheDevice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *Principal
		typ  string
		in   Scope
		want Scope
	}{
		{"a rep's visit gets owner and region", rep, "Visit", Scope{}, Scope{Owner: "u-rep", Region: "r1"}},
		{"store staff's diagnosis gets the store too", staff, "Diagnosis", Scope{}, Scope{Owner: "u-staff", Store: "s1", Region: "r1"}},
		{"values already set are kept", staff, "Customer", Scope{Owner: "u-rep"}, Scope{Owner: "u-rep", Store: "s1", Region: "r1"}},
		{"fields the type lacks stay empty", staff, "SurgerySupport", Scope{}, Scope{Owner: "u-staff", Region: "r1"}},
		{"a shared type's region stays empty: it means every region", device("u-m", fieldsyncv1.Role_ROLE_MARKETING, "", "r1"), "CampaignMaterial", Scope{}, Scope{Owner: "u-m"}},
		{"API keys get nothing filled", apiKey("stock:write"), "StockLevel", Scope{}, Scope{}},
		{"a nil principal gets nothing filled", nil, "Visit", Scope{Store: "s"}, Scope{Store: "s"}},
	}
	for _, tt := range tests {
		if got := DefaultScope(tt.p, recordType(t, tt.typ), tt.in); got != tt.want {
			t.Errorf("%s: DefaultScope = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// mayRead restates the read rules straight from the principal, without
// going through a Filter.
func mayRead(p *Principal, rt *RecordType, sc Scope) bool {
	if p == nil || p.TenantID == "" || (p.DeviceID != "") == (p.APIKeyID != "") {
		return false
	}
	if p.APIKeyID != "" {
		return !rt.Options.GetSensitive() && slices.Contains(p.Permissions, "records:read")
	}
	if p.Role < fieldsyncv1.Role_ROLE_REP || p.Role > fieldsyncv1.Role_ROLE_ADMIN {
		return false
	}
	owns := p.UserID != "" && rt.Owner != nil && sc.Owner == p.UserID
	if rt.Options.GetSensitive() {
		return owns
	}
	storeRole := p.Role == fieldsyncv1.Role_ROLE_STORE_STAFF || p.Role == fieldsyncv1.Role_ROLE_STORE_MANAGER
	regionRole := p.Role == fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR || p.Role == fieldsyncv1.Role_ROLE_TECH_ADVISOR
	inStore := storeRole && p.StoreID != "" && rt.Store != nil && sc.Store == p.StoreID
	inRegion := regionRole && p.RegionID != "" && rt.Region != nil && sc.Region == p.RegionID
	shared := rt.Options.GetShared() && (p.Role == fieldsyncv1.Role_ROLE_MARKETING ||
		(p.RegionID != "" && (sc.Region == "" || sc.Region == p.RegionID)))
	reader := slices.Contains(rt.Options.GetReaderRoles(), p.Role)
	return p.Role == fieldsyncv1.Role_ROLE_ADMIN || owns || inStore || inRegion || shared || reader
}

// drawPrincipal draws mostly well-formed devices, some keys, and a few
// malformed principals (nil, no tenant, both or neither kind, unknown role).
func drawPrincipal(t *rapid.T, ids func(string) *rapid.Generator[string]) *Principal {
	if rapid.IntRange(0, 19).Draw(t, "nil principal") == 0 {
		return nil
	}
	p := &Principal{TenantID: testTenant, UserID: ids("u").Draw(t, "user"), Role: fieldsyncv1.Role(rapid.IntRange(0, 8).Draw(t, "role")),
		StoreID: ids("s").Draw(t, "store"), RegionID: ids("r").Draw(t, "region")}
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		p.TenantID = ""
	case 1:
		p.DeviceID, p.APIKeyID = "d", "k" // both
	case 2: // neither
	case 3, 4:
		p.APIKeyID = "k"
		p.Permissions = rapid.SliceOfN(rapid.SampledFrom([]string{PermRecordsRead, "stock:write"}), 0, 2).Draw(t, "permissions")
	default:
		p.DeviceID = "d"
	}
	return p
}

func TestFilterMatchesAgreesWithTheRulesProperty(t *testing.T) {
	t.Parallel()
	pool := func(prefix string) []string { return []string{"", prefix + "1", prefix + "2"} }
	ids := func(prefix string) *rapid.Generator[string] { return rapid.SampledFrom(pool(prefix)) }
	rapid.Check(t, func(t *rapid.T) {
		p := drawPrincipal(t, ids)
		f := FilterFor(p)
		for _, rt := range DefaultRegistry().Types() {
			for _, owner := range pool("u") {
				for _, store := range pool("s") {
					for _, region := range pool("r") {
						sc := Scope{Owner: owner, Store: store, Region: region}
						if got, want := f.Matches(rt, sc), mayRead(p, rt, sc); got != want {
							t.Fatalf("FilterFor(%+v).Matches(%s, %+v) = %v, the rules say %v", p, rt.Name, sc, got, want)
						}
					}
				}
			}
		}
	})
}
