package fieldsync

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/storage/media/local"
)

const (
	surgeryType   = "fieldsync.v1.SurgerySupport"
	diagnosisType = "fieldsync.v1.Diagnosis"
	testChunk     = 64 << 10
)

// mediaTransport passes every call to the server, noting the RPCs in
// order and the photo bytes the server applied (PutChunk answered OK), and
// cuts or drops PutChunk calls on cue. With chunks in flight (an upload
// window over 1) a call the device gave up on may have been applied
// unseen, so tests of a window over 1 check what the server holds rather
// than count bytes through faults.
type mediaTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	// calls are the RPC names in order; offsets the offsets of the
	// PutChunk calls in order; chunkBytes the data bytes of the PutChunk
	// calls the server applied (answered OK), chunks how many;
	// offsetRefusals how many were refused for their offset (Aborted: the
	// device sent bytes the server held, or bytes past them).
	calls          []string
	offsets        []int64
	chunks         int
	chunkBytes     int64
	offsetRefusals int
	// cut cuts the PutChunk at offset cutAt halfway through its body, then
	// runs onCut (once).
	cut   bool
	cutAt int64
	onCut func()
	// drop loses the answer of the PutChunk at offset dropAt (once), after
	// the server handled it.
	drop   bool
	dropAt int64
	// afterChunk runs once the server applied each PutChunk (its offset),
	// before the answer reaches the device. With chunks in flight the
	// answers may come back in another order than the server applied them.
	afterChunk func(off int64)
}

func newMediaTransport() *mediaTransport { return &mediaTransport{base: http.DefaultTransport} }

func (m *mediaTransport) client() *http.Client { return &http.Client{Transport: m} }

func (m *mediaTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := path.Base(req.URL.Path)
	raw := strings.HasPrefix(req.URL.Path, chunkPutPath) // PutChunk on the raw chunk route
	if raw {
		name = "PutChunk"
	}
	if name != "PutChunk" {
		m.mu.Lock()
		m.calls = append(m.calls, name)
		m.mu.Unlock()
		return m.base.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	pc := &fieldsyncv1.PutChunkRequest{}
	if raw {
		pc.Data = body
		if pc.Offset, err = strconv.ParseInt(req.URL.Query().Get("offset"), 10, 64); err != nil {
			return nil, err
		}
	} else if err := proto.Unmarshal(body, pc); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.calls = append(m.calls, name)
	m.offsets = append(m.offsets, pc.GetOffset())
	cut, onCut := m.cut && m.cutAt == pc.GetOffset(), m.onCut
	if cut {
		m.cut = false
	}
	m.mu.Unlock()
	if cut {
		return m.cutCall(req, body, onCut)
	}
	res, err := m.forward(req, body)
	if err != nil {
		return nil, err
	}
	return m.answered(res, pc.GetOffset(), len(pc.GetData()))
}

// cutCall sends half of the body and breaks the connection.
func (m *mediaTransport) cutCall(req *http.Request, body []byte, onCut func()) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), errReader{}))
	r.ContentLength = int64(len(body))
	if res, err := m.base.RoundTrip(r); err == nil {
		res.Body.Close()
	}
	if onCut != nil {
		onCut()
	}
	return nil, errInjected
}

// answered counts a chunk the server applied or refused for its offset,
// and handles the answer's faults.
func (m *mediaTransport) answered(res *http.Response, off int64, n int) (*http.Response, error) {
	m.mu.Lock()
	if res.StatusCode == http.StatusConflict { // Aborted: wrong offset
		m.offsetRefusals++
	}
	if res.StatusCode != http.StatusOK {
		m.mu.Unlock()
		return res, nil
	}
	m.chunks++
	m.chunkBytes += int64(n)
	hook := m.afterChunk
	drop := m.drop && m.dropAt == off
	if drop {
		m.drop = false
	}
	m.mu.Unlock()
	if hook != nil {
		hook(off)
	}
	if drop {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return nil, errInjected
	}
	return res, nil
}

func (m *mediaTransport) forward(req *http.Request, body []byte) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return m.base.RoundTrip(r)
}

// sent returns the bytes of the chunks the server applied, and resets the
// count (and the offsets noted).
func (m *mediaTransport) sent() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.chunkBytes
	m.chunkBytes, m.chunks, m.offsets = 0, 0, nil
	return n
}

// sentOffsets returns the offsets of the PutChunk calls since the last sent.
func (m *mediaTransport) sentOffsets() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.offsets)
}

// refusals returns how many PutChunk calls were refused for their offset.
func (m *mediaTransport) refusals() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offsetRefusals
}

// count returns how many calls of an RPC were made.
func (m *mediaTransport) count(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (m *mediaTransport) callLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func mustAddPhoto(t tb, c *Client, typ, id, slot string, data []byte) *fieldsyncv1.PhotoRef {
	t.Helper()
	ref, err := c.AddPhoto(context.Background(), typ, id, slot, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("add photo to %s.%s: %v", id, slot, err)
	}
	return ref
}

// onlyPhoto returns the device's one queued photo.
func onlyPhoto(t tb, c *Client) Photo {
	t.Helper()
	ps, err := c.Photos(context.Background())
	if err != nil || len(ps) != 1 {
		t.Fatalf("photo queue: %v %v", ps, err)
	}
	return ps[0]
}

// available reports whether the device saw, in its last pull, the record
// refer to the photo with its bytes stored.
func available(t tb, c *Client, recordID, sha string) bool {
	t.Helper()
	rps, err := c.RecordPhotos(context.Background(), recordID)
	if err != nil {
		t.Fatalf("record photos of %s: %v", recordID, err)
	}
	return slices.Contains(rps, RecordPhoto{SHA256: sha, Available: true})
}

// progressLog records progress reports.
type progressLog struct {
	mu   sync.Mutex
	last map[string][2]int64
	back bool // a report went backwards
}

func (p *progressLog) report(sha string, sent, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string][2]int64{}
	}
	if sent < p.last[sha][0] {
		p.back = true
	}
	p.last[sha] = [2]int64{sent, total}
}

func TestSurgeryPhotosUploadAfterTheRecordAndReachAnotherDevice(t *testing.T) {
	t.Parallel()
	e := start(t)
	rep := e.user("rep", 0)
	mt, progress := newMediaTransport(), &progressLog{}
	c := e.device(rep.DeviceToken, WithHTTPClient(mt.client()), WithChunkSize(testChunk), WithPhotoProgress(progress.report))
	id := c.NewID()
	mustPut(t, c, id, &fieldsyncv1.SurgerySupport{HospitalId: "hospital-1", ConsumableModels: []string{"stent-a"}})
	slots := []string{"pre_op_photo", "intra_op_photo", "post_op_count_photo"}
	data := [][]byte{photostest.JPEG(3*testChunk+100, 1), photostest.JPEG(testChunk, 2), photostest.JPEG(20<<10, 3)}
	var total int64
	for i, slot := range slots {
		if ref := mustAddPhoto(t, c, surgeryType, id, slot, data[i]); ref.GetSha256() != photostest.Key(data[i]) || ref.GetContentType() != "image/jpeg" {
			t.Fatalf("ref %v", ref)
		}
		total += int64(len(data[i]))
	}
	ss := &fieldsyncv1.SurgerySupport{}
	if found, err := c.Get(context.Background(), surgeryType, id, ss); !found || err != nil || ss.GetIntraOpPhoto().GetSha256() != photostest.Key(data[1]) {
		t.Fatalf("before any byte is sent the record refers to %v (%v, %v)", ss, found, err)
	}
	if st := mustStatus(t, c); st.OutboxDepth != 4 || st.PhotoQueue != 3 || st.PhotoBytesPending != total {
		t.Fatalf("status offline: %+v", st)
	}

	mustSync(t, c)
	calls := mt.callLog()
	if last, first := lastIndex(calls, "Push"), slices.Index(calls, "CreateUpload"); last < 0 || first < last {
		t.Fatalf("the photos did not go after the records: %v", calls)
	}
	if got := mt.sent(); got != total {
		t.Fatalf("%d photo bytes sent, want %d", got, total)
	}
	checkAllDone(t, c, data, progress)
	if st := mustStatus(t, c); st.PhotoQueue != 0 || st.PhotoBytesPending != 0 || st.PhotosFailed != 0 || st.OutboxDepth != 0 {
		t.Fatalf("status after sync: %+v", st)
	}

	token2, _ := e.enroll(rep.UserID, "tablet")
	d2 := e.device(token2)
	mustSync(t, d2)
	got := &fieldsyncv1.SurgerySupport{}
	if found, err := d2.Get(context.Background(), surgeryType, id, got); !found || err != nil || !got.GetPhotosComplete() {
		t.Fatalf("the second device sees %v (%v, %v)", got, found, err)
	}
	for _, b := range data {
		if !available(t, d2, id, photostest.Key(b)) {
			t.Fatalf("the second device does not see photo %s available", photostest.Key(b))
		}
	}
}

func lastIndex(s []string, v string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == v {
			return i
		}
	}
	return -1
}

// checkAllDone checks that the photos of data are stored, their local
// copies gone, and that progress reached their sizes without going back.
func checkAllDone(t *testing.T, c *Client, data [][]byte, progress *progressLog) {
	t.Helper()
	ps, err := c.Photos(context.Background())
	if err != nil || len(ps) != len(data) {
		t.Fatalf("photos: %v %v", ps, err)
	}
	for _, p := range ps {
		if p.State != PhotoDone || p.Offset != p.Size || p.Path != "" || p.Completed.IsZero() || p.Err != "" {
			t.Fatalf("photo after sync: %+v", p)
		}
	}
	progress.mu.Lock()
	defer progress.mu.Unlock()
	for _, b := range data {
		if got := progress.last[photostest.Key(b)]; got != [2]int64{int64(len(b)), int64(len(b))} || progress.back {
			t.Fatalf("progress of %s ended at %v (went back: %v)", photostest.Key(b), got, progress.back)
		}
	}
}

// windows are the upload windows the resume and ordering tests run with.
var windows = []int{1, 2, 3}

// serverOffset returns the offset the server's upload of a photo continues
// at, asked as the device with its token (not through the device's client).
func serverOffset(t tb, serverURL, token, uploadID string) int64 {
	t.Helper()
	mc := fieldsyncv1connect.NewMediaServiceClient(http.DefaultClient, serverURL, connect.WithInterceptors(authInterceptor(token)))
	res, err := mc.GetUpload(context.Background(), connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: uploadID}))
	if err != nil {
		t.Fatalf("get upload %s: %v", uploadID, err)
	}
	return res.Msg.GetUpload().GetOffset()
}

// TestPhotoUploadResumesFromTheServerOffsetAfterACut: a connection cut
// halfway through a chunk leaves the server with the chunks before it (a
// chunk sent ahead of the cut one is not applied); the next Sync resumes
// at the server's offset and, when an answer is lost on the way, at the
// offset the server holds then: no chunk is ever sent at an offset the
// server is not at (it would be refused for its offset), and the photo is
// stored whole.
func TestPhotoUploadResumesFromTheServerOffsetAfterACut(t *testing.T) {
	t.Parallel()
	for _, w := range windows {
		t.Run(fmt.Sprintf("window=%d", w), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			staff := e.user("store_staff", 0)
			mt := newMediaTransport()
			c := e.device(staff.DeviceToken, WithHTTPClient(mt.client()), WithChunkSize(testChunk), WithUploadWindow(w))
			id := c.NewID()
			data := photostest.JPEG(5*testChunk+1000, 7)
			mustPut(t, c, id, &fieldsyncv1.Diagnosis{VehicleModel: "sedan"})
			mustAddPhoto(t, c, diagnosisType, id, "photos", data)

			// The connection breaks halfway through the third chunk, and stays
			// down once the chunks before it went through.
			ctx, down := context.WithCancel(context.Background())
			mt.mu.Lock()
			mt.cut, mt.cutAt, mt.onCut = true, 2*testChunk, func() {
				for {
					mt.mu.Lock()
					through := mt.chunks == 2
					mt.mu.Unlock()
					if through {
						break
					}
					time.Sleep(time.Millisecond)
				}
				down()
			}
			mt.mu.Unlock()
			if err := c.Sync(ctx); err == nil {
				t.Fatal("sync through the cut succeeded")
			}
			p := onlyPhoto(t, c)
			held := serverOffset(t, e.d.URL(), staff.DeviceToken, p.UploadID)
			if held != 2*testChunk {
				t.Fatalf("after the cut the server holds %d bytes, want the %d before the cut chunk", held, 2*testChunk)
			}
			if p.State != PhotoUploading || p.Offset > held || (w == 1 && p.Offset != held) {
				t.Fatalf("after the cut: %+v, the server holding %d", p, held)
			}
			if got := mt.sent(); got > held || (w == 1 && got != held) {
				t.Fatalf("the server answered chunks of %d bytes before the cut, holding %d", got, held)
			}

			// Back online; the answer to the next Sync's second chunk is lost.
			mt.mu.Lock()
			mt.drop, mt.dropAt = true, 3*testChunk
			mt.mu.Unlock()
			mustSync(t, c)
			offs := mt.sentOffsets()
			if len(offs) == 0 || slices.Min(offs) != held {
				t.Fatalf("the resumed upload sent chunks at %v, want them from the server's %d", offs, held)
			}
			if n := mt.refusals(); n != 0 {
				t.Fatalf("%d chunks were refused for their offset: the device sent bytes the server held, or past them (chunks at %v)", n, offs)
			}
			got := mt.sent()
			if want := int64(len(data)) - held; got > want || (w == 1 && got != want) {
				t.Fatalf("the resumed upload had %d bytes applied, want the %d the server lacked", got, want)
			}
			if p := onlyPhoto(t, c); p.State != PhotoDone {
				t.Fatalf("after the resumed sync: %+v", p)
			}
			d := &fieldsyncv1.Diagnosis{}
			if _, err := c.Get(context.Background(), diagnosisType, id, d); err != nil || len(d.GetPhotos()) != 1 || d.GetVehicleModel() != "sedan" {
				t.Fatalf("diagnosis %v: %v", d, err)
			}
			if !available(t, c, id, photostest.Key(data)) {
				t.Fatal("the diagnosis was not pulled again with its photo available")
			}
		})
	}
}

func TestPhotoUploadResumesAfterAProcessRestart(t *testing.T) {
	t.Parallel()
	for _, w := range windows {
		t.Run(fmt.Sprintf("window=%d", w), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			rep := e.user("rep", 0)
			dbPath := filepath.Join(t.TempDir(), "device.db")
			ctx, crash := context.WithCancel(context.Background())
			mt := newMediaTransport()
			mt.afterChunk = func(off int64) {
				if off == testChunk {
					crash() // the process dies once the server holds two chunks (chunks in flight after them may land)
				}
			}
			open := func(mt *mediaTransport) *Client {
				return openDevice(t, dbPath, WithServer(e.d.URL()), WithToken(rep.DeviceToken), WithHTTPClient(mt.client()),
					WithChunkSize(testChunk), WithBackoff(time.Millisecond, 20*time.Millisecond), WithUploadWindow(w))
			}
			c := open(mt)
			id := c.NewID()
			data := photostest.JPEG(4*testChunk+10, 11)
			mustAddPhoto(t, c, surgeryType, id, "pre_op_photo", data)
			if err := c.Sync(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("sync through the crash: %v", err)
			}
			c.Close()

			mt2 := newMediaTransport()
			c = open(mt2)
			p := onlyPhoto(t, c)
			if p.State != PhotoUploading || p.Path == "" {
				t.Fatalf("after the restart: %+v", p)
			}
			held := serverOffset(t, e.d.URL(), rep.DeviceToken, p.UploadID)
			if held < 2*testChunk || held%testChunk != 0 || (w == 1 && held != 2*testChunk) {
				t.Fatalf("the server holds %d bytes after the crash, want 2 chunks and at most the ones in flight", held)
			}
			mustSync(t, c)
			if offs := mt2.sentOffsets(); len(offs) == 0 || slices.Min(offs) != held {
				t.Fatalf("after the restart chunks went at %v, want them from the server's %d", offs, held)
			}
			if got, want := mt2.sent(), int64(len(data))-held; got != want || mt2.refusals() != 0 {
				t.Fatalf("after the restart %d bytes were applied (%d chunks refused for their offset), want the %d the server lacked",
					got, mt2.refusals(), want)
			}
			if p := onlyPhoto(t, c); p.State != PhotoDone {
				t.Fatalf("after the resumed sync: %+v", p)
			}
			if !available(t, c, id, photostest.Key(data)) {
				t.Fatal("the photo is not available")
			}
		})
	}
}

// TestRecordWrittenDuringAnUploadGoesBeforeTheNextChunk: a record written
// while chunks of a photo are in flight reaches the server before any
// chunk sent after it. The visit is written while the device waits for
// the server's answer to the second chunk with its window full (so no
// chunk can be on its way out meanwhile); every chunk sent after that
// finds the server holding the visit.
func TestRecordWrittenDuringAnUploadGoesBeforeTheNextChunk(t *testing.T) {
	t.Parallel()
	for _, w := range windows {
		t.Run(fmt.Sprintf("window=%d", w), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			rep := e.user("rep", 0)
			token2, _ := e.enroll(rep.UserID, "tablet")
			serverHolds := func(id string) bool { // the visit, pulled by the rep's other device
				res, err := e.syncClient(token2).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Limit: 5000}))
				if err != nil {
					t.Errorf("pull: %v", err)
					return false
				}
				return slices.ContainsFunc(res.Msg.GetRecords(), func(r *fieldsyncv1.Record) bool { return r.GetId() == id })
			}
			mt := newMediaTransport()
			c := e.device(rep.DeviceToken, WithHTTPClient(mt.client()), WithChunkSize(testChunk), WithUploadWindow(w))
			visitID := c.NewID()
			var (
				written   = -1 // calls made before the visit was written
				checked   atomic.Bool
				heldFirst atomic.Bool
			)
			mt.afterChunk = func(off int64) {
				if off != testChunk {
					return
				}
				// The device holds w chunks in flight from the second one on:
				// it sends nothing more before this answer reaches it.
				for want := int64(w) * testChunk; !slices.Contains(mt.sentOffsets(), want); {
					time.Sleep(time.Millisecond)
				}
				mustPut(t, c, visitID, &fieldsyncv1.Visit{Notes: "written while a photo uploads"})
				mt.mu.Lock()
				written = len(mt.calls)
				mt.mu.Unlock()
			}
			data := photostest.JPEG(6*testChunk, 61)
			mustAddPhoto(t, c, surgeryType, c.NewID(), "pre_op_photo", data)
			base := mt.base
			mt.base = roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if path.Base(req.URL.Path) == "PutChunk" || strings.HasPrefix(req.URL.Path, chunkPutPath) {
					mt.mu.Lock()
					after := written >= 0
					mt.mu.Unlock()
					if after && !checked.Swap(true) {
						heldFirst.Store(serverHolds(visitID))
					}
				}
				return base.RoundTrip(req)
			})
			mustSync(t, c)
			calls := mt.callLog()
			if written < 0 || !checked.Load() {
				t.Fatalf("the visit was written at call %d, and no chunk went after it: %v", written, calls)
			}
			if !heldFirst.Load() {
				t.Fatalf("a chunk sent after the visit was written went before the server held it: %v (visit written after call %d)", calls, written)
			}
			if next := slices.Index(calls[written:], "PutChunk"); next < 0 || !slices.Contains(calls[written:written+next], "Push") {
				t.Fatalf("no push between the visit's write and the next chunk: %v (visit written after call %d)", calls, written)
			}
			if got := mt.sent(); got != int64(len(data)) || mt.refusals() != 0 {
				t.Fatalf("%d bytes applied (%d chunks refused for their offset), want %d", got, mt.refusals(), len(data))
			}
			if st := mustStatus(t, c); st.OutboxDepth != 0 || st.PhotoQueue != 0 {
				t.Fatalf("status: %+v", st)
			}
		})
	}
}

func TestSamePhotoUploadsOnce(t *testing.T) {
	t.Parallel()
	e := start(t)
	mt := newMediaTransport()
	c := e.device(e.user("rep", 0).DeviceToken, WithHTTPClient(mt.client()), WithChunkSize(testChunk))
	data := photostest.JPEG(2*testChunk+5, 21)
	s1, s2 := c.NewID(), c.NewID()
	mustAddPhoto(t, c, surgeryType, s1, "pre_op_photo", data)
	mustAddPhoto(t, c, surgeryType, s2, "post_op_count_photo", data)
	if st := mustStatus(t, c); st.PhotoQueue != 1 || st.PhotoBytesPending != int64(len(data)) {
		t.Fatalf("two attaches of one photo: %+v", st)
	}
	mustSync(t, c)
	if got := mt.sent(); got != int64(len(data)) || mt.count("CreateUpload") != 1 {
		t.Fatalf("%d bytes in %d uploads, want %d in one", got, mt.count("CreateUpload"), len(data))
	}
	if !available(t, c, s1, photostest.Key(data)) || !available(t, c, s2, photostest.Key(data)) {
		t.Fatal("the photo is not available on both records")
	}

	// Another user of the tenant: the server stores the photo once, but
	// the user proves holding it by sending the bytes once.
	mt2 := newMediaTransport()
	c2 := e.device(e.user("rep", 1).DeviceToken, WithHTTPClient(mt2.client()))
	s3 := c2.NewID()
	mustAddPhoto(t, c2, surgeryType, s3, "pre_op_photo", data)
	mustSync(t, c2)
	if p := onlyPhoto(t, c2); p.State != PhotoDone || mt2.sent() != int64(len(data)) || mt2.count("CompleteUpload") != 1 {
		t.Fatalf("a known photo: %+v after %v", p, mt2.callLog())
	}
	if !available(t, c2, s3, photostest.Key(data)) {
		t.Fatal("the known photo is not available on the new record")
	}
}

func TestDamagedLocalCopyFailsThePhotoWithoutLooping(t *testing.T) {
	t.Parallel()
	e := start(t)
	mt := newMediaTransport()
	c := e.device(e.token("rep"), WithHTTPClient(mt.client()), WithChunkSize(testChunk))
	id := c.NewID()
	data := photostest.JPEG(3*testChunk, 31)
	mustAddPhoto(t, c, surgeryType, id, "pre_op_photo", data)
	damage(t, onlyPhoto(t, c).Path)

	mustSync(t, c)
	p := onlyPhoto(t, c)
	if p.State != PhotoFailed || !strings.Contains(p.Err, "damaged") {
		t.Fatalf("a damaged copy: %+v", p)
	}
	if mt.count("CompleteUpload") != 1 || mt.sent() != int64(len(data)) {
		t.Fatalf("calls for a damaged copy: %v", mt.callLog())
	}
	if st := mustStatus(t, c); st.PhotosFailed != 1 || st.PhotoQueue != 0 || st.OutboxDepth != 0 {
		t.Fatalf("status: %+v", st)
	}
	calls := len(mt.callLog())
	mustSync(t, c)
	if log := mt.callLog(); slices.ContainsFunc(log[calls:], func(c string) bool { return c != "Push" && c != "Pull" && c != "Ack" }) {
		t.Fatalf("a failed photo was tried again: %v", log[calls:])
	}

	// Attaching the photo again, intact, queues it again.
	mustAddPhoto(t, c, surgeryType, id, "pre_op_photo", data)
	if p := onlyPhoto(t, c); p.State != PhotoQueued || p.Err != "" {
		t.Fatalf("attached again: %+v", p)
	}
	mustSync(t, c)
	if p := onlyPhoto(t, c); p.State != PhotoDone {
		t.Fatalf("the intact photo: %+v", p)
	}
}

// damage changes a byte in the middle of a file.
func damage(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xFF
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedImageIsSentTwiceThenFails(t *testing.T) {
	t.Parallel()
	e := start(t)
	mt := newMediaTransport()
	c := e.device(e.token("rep"), WithHTTPClient(mt.client()), WithChunkSize(testChunk))
	// A JPEG start (the device takes it) whose first segment is malformed
	// (the server refuses it).
	data := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01}, photostest.NotAnImage(testChunk, 41)...)
	mustAddPhoto(t, c, surgeryType, c.NewID(), "pre_op_photo", data)
	mustSync(t, c)
	p := onlyPhoto(t, c)
	if p.State != PhotoFailed || !strings.Contains(p.Err, "sent twice") || !strings.Contains(p.Err, "invalid_argument") {
		t.Fatalf("a refused image: %+v", p)
	}
	if mt.count("CompleteUpload") != 2 || mt.count("CancelUpload") != 2 || mt.sent() != 2*int64(len(data)) {
		t.Fatalf("calls for a refused image: %v", mt.callLog())
	}
}

func TestAddPhotoRefusesWhatTheServerWouldNot(t *testing.T) {
	t.Parallel()
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"))
	jpeg := photostest.JPEG(1000, 1)
	for _, tc := range []struct {
		typ, id, slot string
		data          []byte
		want          error
	}{
		{surgeryType, "bad id!", "pre_op_photo", jpeg, ErrInvalidID},
		{"fieldsync.v1.Nope", "s1", "pre_op_photo", jpeg, ErrNotRecordType},
		{surgeryType, "s1", "hospital_id", jpeg, ErrNotPhotoSlot},
		{surgeryType, "s1", "no_such_field", jpeg, ErrNotPhotoSlot},
		{"fieldsync.v1.Alert", "a1", "photos", jpeg, ErrNotPhotoSlot},
		{surgeryType, "s1", "pre_op_photo", photostest.NotAnImage(1000, 1), ErrNotImage},
		{diagnosisType, "v1", "photos", jpeg, ErrTypeMismatch},
	} {
		if tc.want == ErrTypeMismatch {
			mustPut(t, c, "v1", &fieldsyncv1.Visit{Notes: "a visit"})
		}
		if _, err := c.AddPhoto(context.Background(), tc.typ, tc.id, tc.slot, bytes.NewReader(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("AddPhoto(%s, %s, %s) = %v, want %v", tc.typ, tc.id, tc.slot, err, tc.want)
		}
	}
	if ps, err := c.Photos(context.Background()); err != nil || len(ps) != 0 {
		t.Fatalf("refused photos were queued: %v %v", ps, err)
	}
	if st := mustStatus(t, c); st.OutboxDepth != 1 {
		t.Fatalf("refused photos were written: %+v", st)
	}
	if left, err := os.ReadDir(c.photoDir); err != nil || len(left) != 0 {
		t.Fatalf("the photo folder keeps %v (%v)", left, err)
	}
}

// startS3 starts the daemon as start does, its photos kept in a bucket of
// a real S3-compatible server.
func startS3(t *testing.T, srv *s3test.Server) *env {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", t.TempDir(), true, "error"
	cfg.MetricsAddr = "" // daemons run side by side
	cfg.S3Endpoint, cfg.S3Bucket, cfg.S3AccessKey, cfg.S3SecretKey = srv.Endpoint, "sdk-photos", srv.AccessKey, srv.SecretKey
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	e := &env{t: t, d: d, dir: cfg.DataDir}
	if e.creds, err = demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json")); err != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	return e
}

func TestPhotoStorageOutagePutsThePhotoOffWithoutHoldingUpRecords(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	e := startS3(t, srv)
	var now atomic.Int64 // the device's clock: stopped during the outage, then past the photo's retry time
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	mt := newMediaTransport()
	c := e.device(e.token("rep"), WithHTTPClient(mt.client()), WithChunkSize(testChunk), WithClock(clock))
	id := c.NewID()
	data := photostest.JPEG(2*testChunk+1, 51)
	mustAddPhoto(t, c, surgeryType, id, "pre_op_photo", data)

	srv.Stop()
	mustSync(t, c)
	p := onlyPhoto(t, c)
	if p.State != PhotoUploading || p.Offset != p.Size || !strings.Contains(p.Err, "unavailable") || p.RetryAt.IsZero() {
		t.Fatalf("during the outage: %+v", p)
	}
	mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "written during the outage"})
	mustSync(t, c)
	if st := mustStatus(t, c); st.OutboxDepth != 0 || st.PhotoQueue != 1 || st.PhotoBytesPending != 0 {
		t.Fatalf("status during the outage: %+v", st)
	}
	if n := mt.count("CompleteUpload"); n != 1 {
		t.Fatalf("the put-off photo was completed %d times before its retry time", n)
	}

	srv.Restart()
	now.Store(time.Now().Add(time.Minute).UnixNano())
	mustSync(t, c)
	if p := onlyPhoto(t, c); p.State != PhotoDone || p.Err != "" {
		t.Fatalf("after the outage: %+v", p)
	}
	if got := mt.sent(); got != int64(len(data)) {
		t.Fatalf("%d bytes sent, want the photo's %d once", got, len(data))
	}
	if !available(t, c, id, photostest.Key(data)) {
		t.Fatal("the photo is not available after the outage")
	}
}

// BenchmarkPhotoUpload times the Sync that uploads one new 5 MiB photo
// (with the push of the record that refers to it and the pulls around
// it), over loopback to a daemon keeping photos in its local folder.
//
//	go test -run='^$' -bench=PhotoUpload -benchtime=20x ./clients/go/
func BenchmarkPhotoUpload(b *testing.B) {
	const size = 5 << 20
	for _, chunk := range []int{256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			e := start(b)
			benchPhotoSyncs(b, e.device(e.token("rep"), WithChunkSize(chunk)), size)
		})
	}
}

// benchPhotoSyncs times b.N Syncs of c, each uploading one new photo of
// size bytes attached (untimed) to a new surgery support.
func benchPhotoSyncs(b *testing.B, c *Client, size int) {
	b.Helper()
	b.SetBytes(int64(size))
	for i := range b.N {
		b.StopTimer()
		mustAddPhoto(b, c, surgeryType, c.NewID(), "pre_op_photo", photostest.JPEG(size, uint64(i)+1))
		b.StartTimer()
		mustSync(b, c)
	}
	b.StopTimer()
	if st := mustStatus(b, c); st.PhotoQueue != 0 || st.PhotosFailed != 0 {
		b.Fatalf("status after the uploads: %+v", st)
	}
}

// TestPhotoUploadResumesWhenTheServerLostAcknowledgedChunks: the server
// acknowledges a chunk before it is durable (the device keeps the photo
// until CompleteUpload succeeds), so after a server crash its upload may
// stand before chunks the device saw acknowledged, with an unsynced tail
// in its staged file. The device resumes from the server's offset, sends
// what was lost again, and the photo is stored once, with its own bytes.
func TestPhotoUploadResumesWhenTheServerLostAcknowledgedChunks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", "", dir, true, "error"
	first, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := demo.Load(filepath.Join(dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := creds.User("rep")
	dbPath := filepath.Join(t.TempDir(), "device.db")
	open := func(server string, mt *mediaTransport) *Client {
		return openDevice(t, dbPath, WithServer(server), WithToken(rep.DeviceToken), WithHTTPClient(mt.client()),
			WithChunkSize(testChunk), WithBackoff(time.Millisecond, 20*time.Millisecond))
	}
	ctx, stop := context.WithCancel(context.Background())
	mt := newMediaTransport()
	mt.afterChunk = func(off int64) {
		if off == 2*testChunk {
			stop() // the device goes away once three chunks are acknowledged
		}
	}
	c := open(first.URL(), mt)
	id := c.NewID()
	data := photostest.JPEG(5*testChunk+10, 21)
	key := photostest.Key(data)
	mustAddPhoto(t, c, surgeryType, id, "pre_op_photo", data)
	if err := c.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("sync until the device went away: %v", err)
	}
	// The server acknowledged three chunks (or more, sent ahead); the
	// device recorded at most those (the last ones maybe not: it went away
	// while their answers were on the way).
	if p := onlyPhoto(t, c); p.State != PhotoUploading || p.Offset > 5*testChunk {
		t.Fatalf("before the server crash: %+v", p)
	}
	c.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: only the first chunk was made durable, and the
	// staged file holds a tail that was never synced.
	db, err := sql.Open("sqlite", filepath.Join(dir, "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	var uploadID string
	if err := db.QueryRow(`SELECT id FROM uploads WHERE sha256 = ?`, key).Scan(&uploadID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE uploads SET offset_bytes = ? WHERE id = ?`, testChunk, uploadID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	staged := filepath.Join(dir, "uploads", uploadID)
	if err := os.WriteFile(staged, append(slices.Clone(data[:testChunk]), bytes.Repeat([]byte{0xa5}, testChunk+123)...), 0o600); err != nil {
		t.Fatal(err)
	}

	e := startIn(t, dir) // the server restarted
	mt2 := newMediaTransport()
	c = open(e.d.URL(), mt2)
	mustSync(t, c)
	if got, want := mt2.sent(), int64(len(data)-testChunk); got != want {
		t.Fatalf("after the server crash %d bytes were sent, want the %d it lacked", got, want)
	}
	if p := onlyPhoto(t, c); p.State != PhotoDone {
		t.Fatalf("after the resumed sync: %+v", p)
	}
	if !available(t, c, id, key) {
		t.Fatal("the photo is not available")
	}
	objects, err := local.New(filepath.Join(dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := objects.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored photo: %d bytes, equal %v, %v", len(got), bytes.Equal(got, data), err)
	}
	db, err = sql.Open("sqlite", filepath.Join(dir, "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var uploads, complete int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE state = 2) FROM uploads WHERE sha256 = ?`, key).Scan(&uploads, &complete); err != nil {
		t.Fatal(err)
	}
	if uploads != 1 || complete != 1 {
		t.Fatalf("%d server uploads of the photo (%d complete), want the one resumed, complete", uploads, complete)
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
