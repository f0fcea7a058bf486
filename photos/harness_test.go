package photos_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/storage/media/s3"
	"github.com/fieldsync/fieldsync/syncengine"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// world is a photo service over a fresh SQLite store, a real sync engine,
// a media store (a local folder unless S3 is asked for) and signed links,
// with two tenants: principals by name, "other" in the second tenant.
type world struct {
	t       testing.TB
	dir     string
	db      worldDB
	engine  *syncengine.Engine
	store   media.Store
	svc     *photos.Service
	cfg     photos.Config
	clock   *clock
	tenant  string
	shop    string
	p       map[string]*syncengine.Principal
	seq     map[string]uint64
	signer  *media.URLSigner
	records photos.Records
	// maxBytes is the service's largest photo (1 MiB unless set).
	maxBytes int64
}

type option func(*world)

// withS3 puts objects into a bucket of a real versitygw.
func withS3(srv *s3test.Server, bucket string) option {
	return func(w *world) {
		st, err := s3.New(w.t.Context(), s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			w.t.Fatalf("s3 store: %v", err)
		}
		w.store = st
	}
}

// withRecords replaces the engine as the service's Records.
func withRecords(r func(*world) photos.Records) option {
	return func(w *world) { w.records = r(w) }
}

func newWorld(t testing.TB, opts ...option) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), p: map[string]*syncengine.Principal{}, seq: map[string]uint64{},
		clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, maxBytes: 1 << 20}
	ctx := context.Background()
	var err error
	if w.db, err = openWorldDB(t, w.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })
	if w.engine, err = syncengine.New(syncengine.Config{Store: w.db}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.engine.Close)
	w.records = w.engine
	w.addPeople(ctx)
	if w.store, err = local.New(filepath.Join(w.dir, "photos")); err != nil {
		t.Fatal(err)
	}
	if w.signer, err = media.NewURLSigner([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(w)
	}
	w.start()
	return w
}

// addPeople creates the tenants and one principal per name, each with an
// enrolled device: "staff" and "staff2" work in the first tenant's store.
func (w *world) addPeople(ctx context.Context) {
	for i, people := range []map[string]fieldsyncv1.Role{
		{"rep": fieldsyncv1.Role_ROLE_REP, "rep2": fieldsyncv1.Role_ROLE_REP, "director": fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR,
			"advisor": fieldsyncv1.Role_ROLE_TECH_ADVISOR, "admin": fieldsyncv1.Role_ROLE_ADMIN,
			"staff": fieldsyncv1.Role_ROLE_STORE_STAFF, "staff2": fieldsyncv1.Role_ROLE_STORE_STAFF},
		{"other": fieldsyncv1.Role_ROLE_ADMIN},
	} {
		tn, err := w.db.CreateTenant(ctx, "T")
		if err != nil {
			w.t.Fatal(err)
		}
		r, err := w.db.CreateRegion(ctx, tn.ID, "R")
		if err != nil {
			w.t.Fatal(err)
		}
		shop, err := w.db.CreateStore(ctx, tn.ID, r.ID, "S")
		if err != nil {
			w.t.Fatal(err)
		}
		if i == 0 {
			w.tenant, w.shop = tn.ID, shop.ID
		}
		for name, role := range people {
			u := &syncengine.User{TenantID: tn.ID, DisplayName: name, Role: role, RegionID: r.ID}
			switch role {
			case fieldsyncv1.Role_ROLE_ADMIN:
				u.RegionID = ""
			case fieldsyncv1.Role_ROLE_STORE_STAFF:
				u.StoreID = shop.ID
			}
			if err := w.db.CreateUser(ctx, u); err != nil {
				w.t.Fatal(err)
			}
			w.p[name] = u.Principal(w.enroll(ctx, u))
		}
	}
	w.p["key"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1", Permissions: []string{syncengine.PermRecordsRead}}
}

// enroll enrolls a device of u and returns its id.
func (w *world) enroll(ctx context.Context, u *syncengine.User) string {
	code, _, err := w.db.IssueEnrollmentCode(ctx, u.TenantID, u.ID, "", time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	d, _, err := w.db.Enroll(ctx, code, "dev-"+u.DisplayName, "test")
	if err != nil {
		w.t.Fatal(err)
	}
	return d.ID
}

// secondDevice enrolls another device of who's user as principal name.
func (w *world) secondDevice(name, who string) {
	w.t.Helper()
	p := *w.p[who]
	p.DeviceID = w.enroll(context.Background(), &syncengine.User{ID: p.UserID, TenantID: p.TenantID, DisplayName: name})
	w.p[name] = &p
}

// start (re)creates the service over the world's database and folders, as
// a restarted server would.
func (w *world) start() {
	w.t.Helper()
	if w.svc != nil { // a graceful restart: acknowledged chunks are made durable
		photos.WaitTracked(w.svc)
		if err := w.svc.Flush(context.Background()); err != nil {
			w.t.Fatal(err)
		}
	}
	w.restart()
}

// crash replaces the service as a restart after its process died would:
// chunks acknowledged but not yet durable are left as they are on disk.
func (w *world) crash() {
	w.t.Helper()
	photos.Crash(w.svc)
	w.restart()
}

func (w *world) restart() {
	w.t.Helper()
	w.cfg = photos.Config{
		Store: w.db, Objects: w.store, Records: w.records,
		Links:      photos.SignedLinks{Signer: w.signer, Base: func() string { return "http://fieldsync.test" }},
		StagingDir: filepath.Join(w.dir, "uploads"), MaxBytes: w.maxBytes, Expiry: time.Hour, Now: w.clock.Now,
	}
	if p, ok := w.store.(media.Presigner); ok {
		w.cfg.Links = photos.PresignedLinks{Presigner: p}
	}
	var err error
	if w.svc, err = photos.New(w.cfg); err != nil {
		w.t.Fatal(err)
	}
	// Acknowledged chunks become durable only when a test asks for an
	// offset (or restarts gracefully), however slow the machine.
	photos.SetFlushAfter(w.svc, time.Hour)
	svc := w.svc
	w.t.Cleanup(func() { photos.Crash(svc) })
}

// create starts an upload of data as who, failing the test on error.
func (w *world) create(who string, data []byte) *photos.Upload {
	w.t.Helper()
	u, err := w.svc.CreateUpload(context.Background(), w.p[who], photos.CreateRequest{
		SHA256: photostest.Key(data), Size: int64(len(data)), ContentType: "image/jpeg", DeviceHLC: 7 << 16,
	})
	if err != nil {
		w.t.Fatalf("CreateUpload as %s: %v", who, err)
	}
	return u
}

// send puts data from the upload's offset in chunks of n bytes.
func (w *world) send(who string, u *photos.Upload, data []byte, n int) {
	w.t.Helper()
	for off := u.Offset; off < int64(len(data)); {
		end := min(off+int64(n), int64(len(data)))
		next, err := w.svc.PutChunk(context.Background(), w.p[who], u.ID, off, data[off:end], photos.CRC32C(data[off:end]))
		if err != nil {
			w.t.Fatalf("PutChunk at %d: %v", off, err)
		}
		off = next
	}
}

// upload sends a whole photo as who and completes it.
func (w *world) upload(who string, data []byte) *photos.Photo {
	w.t.Helper()
	u := w.create(who, data)
	w.send(who, u, data, 1000)
	_, ph, err := w.svc.CompleteUpload(context.Background(), w.p[who], u.ID)
	if err != nil {
		w.t.Fatalf("CompleteUpload: %v", err)
	}
	return ph
}

// stagedSize is the length of an upload's staging file (-1 when absent).
func (w *world) stagedSize(id string) int64 {
	fi, err := os.Stat(filepath.Join(w.dir, "uploads", id))
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return fi.Size()
}

// push writes a record as who and fails unless it is applied.
func (w *world) push(who, id string, v proto.Message, fields ...string) {
	w.t.Helper()
	w.seq[who]++
	res, err := w.engine.Push(context.Background(), w.p[who], []syncengine.Mutation{{
		Seq: w.seq[who], Type: string(v.ProtoReflect().Descriptor().FullName()), RecordID: id,
		Value: v, Fields: fields, HLC: w.engine.Clock().Now(),
	}})
	if err != nil {
		w.t.Fatalf("push: %v", err)
	}
	if r := res.Results[0]; r.Outcome == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
		w.t.Fatalf("push rejected: %v", r)
	}
}

// surgery pushes a surgery support of who's referring to the photos.
func (w *world) surgery(who string, pre, intra, post []byte) string {
	id := ids.New()
	ss := &fieldsyncv1.SurgerySupport{HospitalId: "h1", PreOpPhoto: ref(pre), IntraOpPhoto: ref(intra), PostOpCountPhoto: ref(post)}
	w.push(who, id, ss, "hospital_id", "pre_op_photo", "intra_op_photo", "post_op_count_photo")
	return id
}

func ref(data []byte) *fieldsyncv1.PhotoRef {
	if data == nil {
		return nil
	}
	return &fieldsyncv1.PhotoRef{Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/jpeg"}
}

// pull returns the records who pulls after cursor, by id, and the next cursor.
func (w *world) pull(who, cursor string) (map[string]*fieldsyncv1.Record, string) {
	w.t.Helper()
	res, err := w.engine.Pull(context.Background(), w.p[who], cursor, 500)
	if err != nil {
		w.t.Fatalf("pull: %v", err)
	}
	out := map[string]*fieldsyncv1.Record{}
	for _, r := range res.Records {
		out[r.Id] = r
	}
	return out, res.NextCursor
}

// wantCode fails unless err carries the domain code.
func wantCode(t *testing.T, err error, code syncengine.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d", code)
	}
	if got := syncengine.ErrorCode(err); got != code {
		t.Fatalf("got code %d (%v), want %d", got, err, code)
	}
}

// checkObject reads the object stored under data's key and compares it.
func checkObject(t *testing.T, st media.Store, data []byte, contentType string) {
	t.Helper()
	rc, info, err := st.Open(context.Background(), photostest.Key(data))
	if err != nil {
		t.Fatalf("open stored object: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) || info.ContentType != contentType {
		t.Fatalf("stored object: %d bytes (equal %v), %q, %v", len(got), bytes.Equal(got, data), info.ContentType, err)
	}
}

// noObject fails if an object is stored under data's key.
func noObject(t *testing.T, st media.Store, data []byte) {
	t.Helper()
	if _, err := st.Stat(context.Background(), photostest.Key(data)); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("Stat = %v, want ErrNotFound", err)
	}
}
