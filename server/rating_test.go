package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// ratingEnv is the whole server with rating links, over SQLite and the
// demo organisation, with a clock the test can move forward.
type ratingEnv struct {
	*edgeServer
	skew atomic.Int64 // added to the database's clock
	seqs map[string]uint64
}

// newRatingEnv starts the server; limits, when set, replaces the page's
// rate limits.
func newRatingEnv(t *testing.T, limits *server.RatingConfig) *ratingEnv {
	t.Helper()
	env := &ratingEnv{seqs: map[string]uint64{}}
	env.edgeServer = newEdgeServer(t, 0, false, func(c *server.Config) {
		db := c.Identity.(*sqlite.DB)
		db.Now = func() time.Time { return time.Now().Add(time.Duration(env.skew.Load())) }
		rc := server.RatingConfig{Rate: 1000, Burst: 1000, GlobalRate: 1000, GlobalBurst: 1000}
		if limits != nil {
			rc = *limits
		}
		rc.Store = db
		c.Ratings = &rc
	})
	return env
}

func (e *ratingEnv) ratings() fieldsyncv1connect.RatingServiceClient {
	return fieldsyncv1connect.NewRatingServiceClient(e.srv.Client(), e.srv.URL)
}

// pushQuote writes a quote with the device of token (placed in its store).
func (e *ratingEnv) pushQuote(token, id string) {
	e.t.Helper()
	e.seqs[token]++
	v, _ := anypb.New(&fieldsyncv1.Quote{WorkItems: []string{"brake pads"}, TotalCents: 52000, Currency: "CNY"})
	req := connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: e.seqs[token], RecordType: "fieldsync.v1.Quote", RecordId: id, Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"work_items", "total_cents", "currency"}}, Hlc: uint64(time.Now().UnixMilli()) << 16,
	}}})
	req.Header().Set("Authorization", "Bearer "+token)
	res, err := e.sync().Push(context.Background(), req)
	if err != nil {
		e.t.Fatalf("push quote: %v", err)
	}
	if o := res.Msg.GetResults()[0].GetOutcome(); o != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		e.t.Fatalf("push quote: %v %s", o, res.Msg.GetResults()[0].GetReason())
	}
}

// link creates a rating link for the quote with the device of token.
func (e *ratingEnv) link(token, quoteID string, ttl time.Duration) (*fieldsyncv1.CreateRatingLinkResponse, error) {
	req := connect.NewRequest(&fieldsyncv1.CreateRatingLinkRequest{QuoteId: quoteID})
	if ttl != 0 {
		req.Msg.Ttl = durationpb.New(ttl)
	}
	req.Header().Set("Authorization", "Bearer "+token)
	res, err := e.ratings().CreateRatingLink(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func (e *ratingEnv) mustLink(token, quoteID string) string {
	e.t.Helper()
	res, err := e.link(token, quoteID, 0)
	if err != nil {
		e.t.Fatalf("CreateRatingLink: %v", err)
	}
	return res.GetPath()
}

// page is one answer of the rating page.
type page struct {
	status int
	header http.Header
	body   string
}

func (e *ratingEnv) do(req *http.Request) page {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

func (e *ratingEnv) get(path, lang string) page {
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	return e.do(req)
}

func (e *ratingEnv) post(path string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "en")
	return e.do(req)
}

// ratingsPulled returns the SatisfactionRating records the device of token pulls.
func (e *ratingEnv) ratingsPulled(token string) map[string]*fieldsyncv1.SatisfactionRating {
	e.t.Helper()
	out := map[string]*fieldsyncv1.SatisfactionRating{}
	cursor := ""
	for {
		req := connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor})
		req.Header().Set("Authorization", "Bearer "+token)
		res, err := e.sync().Pull(context.Background(), req)
		if err != nil {
			e.t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.GetRecords() {
			if r.GetRecordType() == "fieldsync.v1.SatisfactionRating" && r.GetRemoved() == fieldsyncv1.RemovalReason_REMOVAL_REASON_UNSPECIFIED {
				v := &fieldsyncv1.SatisfactionRating{}
				if err := r.GetValue().UnmarshalTo(v); err != nil {
					e.t.Fatal(err)
				}
				out[r.GetId()] = v
			}
		}
		cursor = res.Msg.GetNextCursor()
		if !res.Msg.GetHasMore() {
			return out
		}
	}
}

func rate(score, comment string) url.Values {
	return url.Values{"score": {score}, "comment": {comment}}
}

func TestRatingHappyPath(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff, manager := e.token("store_staff"), e.token("store_manager")
	e.pushQuote(staff, "q-happy")
	res, err := e.link(staff, "q-happy", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := res.GetPath()
	if !strings.HasPrefix(path, "/r/") || len(path) != len("/r/")+64 {
		t.Fatalf("path = %q", path)
	}
	if d := time.Until(res.GetExpireTime().AsTime()); d <= 0 || d > time.Hour {
		t.Fatalf("expires in %v, want within the hour asked", d)
	}

	pg := e.get(path, "zh-CN,zh;q=0.9,en;q=0.8")
	if pg.status != http.StatusOK || !strings.Contains(pg.body, "Shanghai Pudong Service Store") || !strings.Contains(pg.body, "服务评价") {
		t.Fatalf("GET: %d %s", pg.status, pg.body)
	}
	if strings.Contains(pg.body, "q-happy") || strings.Contains(pg.body, "CNY") {
		t.Fatalf("the page shows record data: %s", pg.body)
	}
	for h, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Content-Language": "zh-CN",
	} {
		if got := pg.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if en := e.get(path, "en-GB,en;q=0.9,zh;q=0.5"); !strings.Contains(en.body, "Rate our service") {
		t.Errorf("English page: %s", en.body)
	}

	if pg := e.post(path, rate("4", "快速、专业 — quick and professional")); pg.status != http.StatusOK || !strings.Contains(pg.body, "Thank you") {
		t.Fatalf("POST: %d %s", pg.status, pg.body)
	}
	got := e.ratingsPulled(manager)
	if len(got) != 1 {
		t.Fatalf("the store manager pulls %d ratings, want 1", len(got))
	}
	for id, r := range got {
		if !strings.HasPrefix(id, "alert-rating-") || r.GetQuoteId() != "q-happy" || r.GetScore() != 4 ||
			r.GetComment() != "快速、专业 — quick and professional" || r.GetStoreId() != e.creds.StoreID || r.GetRegionId() != e.creds.RegionID {
			t.Fatalf("rating %s = %v", id, r)
		}
	}
	// A rep of the region reads ratings of its region's stores; a device
	// elsewhere does not matter here: scope is the sync engine's.
}

func TestRatingSingleUse(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-once")
	path := e.mustLink(staff, "q-once")
	if pg := e.post(path, rate("5", "")); pg.status != http.StatusOK {
		t.Fatalf("first POST: %d %s", pg.status, pg.body)
	}
	if pg := e.post(path, rate("1", "changed my mind")); pg.status != http.StatusNotFound {
		t.Fatalf("second POST: %d %s", pg.status, pg.body)
	}
	if pg := e.get(path, ""); pg.status != http.StatusNotFound {
		t.Fatalf("GET after use: %d", pg.status)
	}
	got := e.ratingsPulled(staff)
	if len(got) != 1 {
		t.Fatalf("%d ratings, want 1", len(got))
	}
	for _, r := range got {
		if r.GetScore() != 5 {
			t.Fatalf("score = %d, want the first POST's 5", r.GetScore())
		}
	}
}

// TestOneRatingPerQuote: a quote is rated once, whatever links were
// issued for it: the other links then say so, and no new link is issued.
func TestOneRatingPerQuote(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff, manager := e.token("store_staff"), e.token("store_manager")
	e.pushQuote(staff, "q-one")
	first, second := e.mustLink(staff, "q-one"), e.mustLink(manager, "q-one")
	if pg := e.post(second, rate("2", "")); pg.status != http.StatusOK {
		t.Fatalf("POST on the second link: %d %s", pg.status, pg.body)
	}
	if pg := e.post(first, rate("5", "staff rating their own quote")); pg.status != http.StatusConflict || !strings.Contains(pg.body, "already been rated") {
		t.Fatalf("POST on the first link after the quote was rated: %d %s", pg.status, pg.body)
	}
	if _, err := e.link(staff, "q-one", 0); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "quote_id") {
		t.Fatalf("a link for a rated quote: %v, want FailedPrecondition naming quote_id", err)
	}
	got := e.ratingsPulled(manager)
	if len(got) != 1 {
		t.Fatalf("%d ratings, want 1", len(got))
	}
	for _, r := range got {
		if r.GetScore() != 2 {
			t.Fatalf("score %d, want the first submitted (2)", r.GetScore())
		}
	}
}

// TestRatingConcurrentPosts sends the same rating link many times at once:
// exactly one POST writes.
func TestRatingConcurrentPosts(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-race")
	path := e.mustLink(staff, "q-race")
	const n = 8
	codes := make(chan int, n)
	for range n {
		go func() { codes <- e.post(path, rate("3", "")).status }()
	}
	ok := 0
	for range n {
		if c := <-codes; c == http.StatusOK {
			ok++
		} else if c != http.StatusNotFound {
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 || len(e.ratingsPulled(staff)) != 1 {
		t.Fatalf("%d POSTs succeeded, %d ratings; want 1 and 1", ok, len(e.ratingsPulled(staff)))
	}
}

func TestRatingExpired(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-old")
	res, err := e.link(staff, "q-old", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.skew.Store(int64(2 * time.Minute))
	if pg := e.get(res.GetPath(), ""); pg.status != http.StatusNotFound {
		t.Fatalf("GET expired: %d", pg.status)
	}
	if pg := e.post(res.GetPath(), rate("5", "")); pg.status != http.StatusNotFound {
		t.Fatalf("POST expired: %d", pg.status)
	}
	if n := len(e.ratingsPulled(staff)); n != 0 {
		t.Fatalf("%d ratings from an expired link", n)
	}
}

// TestRatingEnumeration: forged, random, malformed, used and expired
// tokens all get the very same answer.
func TestRatingEnumeration(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-enum")
	e.pushQuote(staff, "q-enum2")
	good := strings.TrimPrefix(e.mustLink(staff, "q-enum"), "/r/")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	forged := append([]byte{}, raw...)
	forged[len(forged)-1] ^= 1 // the signature
	otherID := append([]byte{}, raw...)
	otherID[0] ^= 1 // the id, keeping the old signature
	used := strings.TrimPrefix(e.mustLink(staff, "q-enum2"), "/r/")
	if pg := e.post("/r/"+used, rate("2", "")); pg.status != http.StatusOK {
		t.Fatal(pg.status)
	}
	tokens := []string{
		base64.RawURLEncoding.EncodeToString(forged), base64.RawURLEncoding.EncodeToString(otherID),
		used, "", "x", good[:63], good + "A", strings.ToUpper(good), "..%2F..%2Ffieldsync.v1.AdminService%2FListUsers", "%00", "%2e%2e",
	}
	for range 20 {
		b := make([]byte, 48)
		rand.Read(b)
		tokens = append(tokens, base64.RawURLEncoding.EncodeToString(b))
	}
	want := e.get("/r/"+tokens[0], "en")
	if want.status != http.StatusNotFound {
		t.Fatalf("forged: %d", want.status)
	}
	for _, tok := range tokens {
		for _, pg := range []page{e.get("/r/"+tok, "en"), e.post("/r/"+tok, rate("5", ""))} {
			if pg.status != want.status || pg.body != want.body || pg.header.Get("Content-Type") != want.header.Get("Content-Type") {
				t.Errorf("token %q: %d %q, want the 404 page", tok, pg.status, pg.body)
			}
		}
	}
	if pg := e.get("/r/"+good, "en"); pg.status != http.StatusOK {
		t.Fatalf("the good token stopped working: %d", pg.status)
	}
}

// TestRatingTenantIsolation: a token of tenant A writes into tenant A only,
// even where tenant B has a quote with the same id.
func TestRatingTenantIsolation(t *testing.T) {
	e := newRatingEnv(t, nil)
	staffA := e.token("store_staff")
	e.pushQuote(staffA, "q-shared-id")
	staffB := newStaffDevice(t, e.db, "")
	e.pushQuote(staffB, "q-shared-id")
	pathA := e.mustLink(staffA, "q-shared-id")
	if pg := e.post(pathA, rate("1", "tenant A")); pg.status != http.StatusOK {
		t.Fatal(pg.status, pg.body)
	}
	if n := len(e.ratingsPulled(staffB)); n != 0 {
		t.Fatalf("tenant B pulls %d ratings of tenant A's token", n)
	}
	if n := len(e.ratingsPulled(staffA)); n != 1 {
		t.Fatalf("tenant A pulls %d ratings, want 1", n)
	}
	// And tenant B's own link works on its own quote.
	if pg := e.post(e.mustLink(staffB, "q-shared-id"), rate("5", "tenant B")); pg.status != http.StatusOK {
		t.Fatal(pg.status)
	}
	for _, r := range e.ratingsPulled(staffB) {
		if r.GetComment() != "tenant B" {
			t.Fatalf("tenant B's rating = %v", r)
		}
	}
}

// newStaffDevice enrolls a store staff member's device: in a new store of
// the demo tenant's region when tenantID is the demo's, else in a new
// tenant (tenantID ""). It returns the device token.
func newStaffDevice(t *testing.T, db *sqlite.DB, tenantID string) string {
	t.Helper()
	ctx := context.Background()
	var regionID string
	if tenantID == "" {
		tn, err := db.CreateTenant(ctx, "Other Co.")
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.CreateRegion(ctx, tn.ID, "Other region")
		if err != nil {
			t.Fatal(err)
		}
		tenantID, regionID = tn.ID, r.ID
	} else {
		_, regions, _, err := db.GetOrganization(ctx, tenantID)
		if err != nil {
			t.Fatal(err)
		}
		regionID = regions[0].ID
	}
	shop, err := db.CreateStore(ctx, tenantID, regionID, "Other store")
	if err != nil {
		t.Fatal(err)
	}
	u := &syncengine.User{TenantID: tenantID, DisplayName: "other staff", Role: fieldsyncv1.Role_ROLE_STORE_STAFF, StoreID: shop.ID}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	code, _, err := db.IssueEnrollmentCode(ctx, tenantID, u.ID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := db.Enroll(ctx, code, "test device", "test")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestCreateRatingLinkNeedsTheQuote: only store staff and managers who may
// read the quote get a link; every other quote is the same NotFound.
func TestCreateRatingLinkNeedsTheQuote(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-mine")
	otherStore := newStaffDevice(t, e.db, e.creds.TenantID)
	otherTenant := newStaffDevice(t, e.db, "")
	for _, c := range []struct {
		name, token, quote string
		want               connect.Code
	}{
		{"staff of another store", otherStore, "q-mine", connect.CodeNotFound},
		{"staff of another tenant", otherTenant, "q-mine", connect.CodeNotFound},
		{"missing quote", staff, "q-nope", connect.CodeNotFound},
		{"not a quote", staff, "demo-huang", connect.CodeNotFound},
		{"a rep", e.token("rep"), "q-mine", connect.CodePermissionDenied},
		{"an admin", e.token("admin"), "q-mine", connect.CodePermissionDenied},
		{"empty quote_id", staff, "", connect.CodeInvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.link(c.token, c.quote, 0)
			if connect.CodeOf(err) != c.want {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == connect.CodeNotFound && !strings.Contains(err.Error(), "quote_id") {
				t.Fatalf("err = %v, want it to name quote_id", err)
			}
		})
	}
	if _, err := e.link(e.token("store_manager"), "q-mine", 0); err != nil {
		t.Fatalf("the store manager: %v", err)
	}
	if _, err := e.link(staff, "q-mine", 31*24*time.Hour); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("ttl of 31 days: %v", err)
	}
}

func TestRatingBadForm(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-form")
	path := e.mustLink(staff, "q-form")
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		field  string
	}{
		{"score 0", rate("0", ""), http.StatusBadRequest, "score"},
		{"score 6", rate("6", ""), http.StatusBadRequest, "score"},
		{"score text", rate("five", ""), http.StatusBadRequest, "score"},
		{"no score", url.Values{"comment": {"hi"}}, http.StatusBadRequest, "score"},
		{"two scores", url.Values{"score": {"1", "5"}}, http.StatusBadRequest, "score"},
		{"comment too long", rate("3", strings.Repeat("好", 4001)), http.StatusBadRequest, "comment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pg := e.post(path, c.form)
			if pg.status != c.status || !strings.Contains(pg.body, c.field+":") {
				t.Fatalf("%d %s, want %d naming %s", pg.status, pg.body, c.status, c.field)
			}
		})
	}
	// Other content types are refused unread.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(`{"score":5}`))
	req.Header.Set("Content-Type", "application/json")
	if pg := e.do(req); pg.status != http.StatusUnsupportedMediaType {
		t.Fatalf("JSON body: %d", pg.status)
	}
	// Past the body limit.
	big := rate("3", strings.Repeat("x", 50<<10))
	if pg := e.post(path, big); pg.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize body: %d", pg.status)
	}
	// 4000 CJK characters, the most a comment may hold, fit.
	if pg := e.post(path, rate("3", strings.Repeat("好", 4000))); pg.status != http.StatusOK {
		t.Fatalf("longest comment: %d %s", pg.status, pg.body)
	}
	if n := len(e.ratingsPulled(staff)); n != 1 {
		t.Fatalf("%d ratings, want only the good POST's", n)
	}
}

func TestRatingRateLimit(t *testing.T) {
	e := newRatingEnv(t, &server.RatingConfig{Rate: 0.001, Burst: 3, GlobalRate: 1000, GlobalBurst: 1000})
	codes := []int{}
	for range 5 {
		codes = append(codes, e.get("/r/whatever", "en").status)
	}
	if codes[2] != http.StatusNotFound || codes[3] != http.StatusTooManyRequests || codes[4] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v, want 3 × 404 then 429", codes)
	}
	if pg := e.get("/r/whatever", "en"); pg.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	g := newRatingEnv(t, &server.RatingConfig{Rate: 1000, Burst: 1000, GlobalRate: 0.001, GlobalBurst: 2})
	g.get("/r/a", "")
	g.get("/r/b", "")
	if pg := g.get("/r/c", ""); pg.status != http.StatusTooManyRequests {
		t.Fatalf("past the global burst: %d", pg.status)
	}
}

// TestRatingTokenReachesNothingElse: a rating token is no bearer token, and
// the page takes no other method.
func TestRatingTokenReachesNothingElse(t *testing.T) {
	e := newRatingEnv(t, nil)
	staff := e.token("store_staff")
	e.pushQuote(staff, "q-cap")
	tok := strings.TrimPrefix(e.mustLink(staff, "q-cap"), "/r/")
	req := connect.NewRequest(&fieldsyncv1.PullRequest{})
	req.Header().Set("Authorization", "Bearer "+tok)
	if _, err := e.sync().Pull(context.Background(), req); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Pull with a rating token: %v", err)
	}
	r, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/r/"+tok, nil)
	if pg := e.do(r); pg.status != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", pg.status)
	}
	if pg := e.get("/r/"+tok+"/x", ""); pg.status != http.StatusNotFound {
		t.Fatalf("a path below the token: %d", pg.status)
	}
	if pg := e.get("/r/"+tok, ""); pg.status != http.StatusOK {
		t.Fatalf("the token itself: %d", pg.status)
	}
}
