package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// photoBench is a daemon storing photos in a real versitygw, a rep's media
// client over loopback HTTP, and a plain minio client to the same server.
type photoBench struct {
	// send puts the chunks (sendPhoto unless the benchmark says).
	send    func(context.Context, fieldsyncv1connect.MediaServiceClient, string, []byte, int64, int64, int) error
	d       *daemon.Daemon
	token   string
	bucket  string
	minio   *minio.Client
	counter *countingTransport
}

// countingTransport counts the HTTP requests sent through it.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

func newPhotoBench(b *testing.B) *photoBench { return newPhotoBenchStaging(b, false) }

// newPhotoBenchStaging is newPhotoBench with staging shared through the
// database (as on nodes sharing one: every chunk kept in upload_chunks)
// when shared is set.
func newPhotoBenchStaging(b *testing.B, shared bool) *photoBench {
	srv := s3test.Start(b)
	pb := &photoBench{send: sendPhoto, bucket: newMediaBucket(), counter: &countingTransport{}}
	d, creds := startDaemon(b, "", func(c *daemon.Config) {
		withS3(srv, pb.bucket)(c)
		c.Consumers = false
		c.RateLimit, c.InFlight = 0, 0 // benchmarks measure photos, not the edge
		if shared {
			c.SQLitePath = filepath.Join(c.DataDir, "fieldsync.db") // an explicit file: staging shared
		}
	})
	rep, _ := creds.User("rep")
	pb.d, pb.token = d, rep.DeviceToken
	var err error
	pb.minio, err = minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	return pb
}

// fresh makes data a new photo and returns its key, outside the timer (a
// device hashes a photo when it takes it, for the record's photo ref).
func fresh(b *testing.B, data []byte, seq *uint64) string {
	b.StopTimer()
	defer b.StartTimer()
	*seq++
	binary.LittleEndian.PutUint64(data[len(data)-16:], *seq)
	binary.LittleEndian.PutUint64(data[len(data)-24:], uint64(time.Now().UnixNano()))
	return photostest.Key(data)
}

// BenchmarkPhotoUpload5MiB sends a 5 MiB photo through fieldsync (Create,
// chunks, Complete over loopback HTTP into versitygw) and, in the same
// loop, PutObjects the same bytes straight to the same server with
// minio-go. The chunks are sent one at a time, as both SDKs send them
// (BenchmarkPhotoAheadUpload5MiB sends each before the answer to the one
// before). It reports each side's MB/s, their ratio (direct time /
// fieldsync time: 1 means no overhead) and where fieldsync's time goes
// (ms per photo in Create, the chunks and Complete). staging=shared is a
// daemon on an explicit SQLite file, which keeps every chunk in the
// database too (photos.Config.SharedStaging).
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoUpload5MiB -benchtime 30x ./e2e/
func BenchmarkPhotoUpload5MiB(b *testing.B) {
	for _, shared := range []bool{false, true} {
		for _, chunk := range []int{256 << 10, 1 << 20, 4 << 20} {
			name := fmt.Sprintf("chunk=%dKiB", chunk>>10)
			if shared {
				name = "staging=shared/" + name
			}
			benchPhotoUpload(b, name, chunk, shared)
		}
	}
}

// BenchmarkPhotoAheadUpload5MiB is BenchmarkPhotoUpload5MiB (local
// staging) with each chunk sent before the answer to the one before, two
// in flight (see photos.Service.PutChunk).
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoAheadUpload5MiB -benchtime 30x ./e2e/
func BenchmarkPhotoAheadUpload5MiB(b *testing.B) {
	for _, chunk := range []int{256 << 10, 1 << 20, 4 << 20} {
		benchPhotoUploadWith(b, fmt.Sprintf("chunk=%dKiB", chunk>>10), chunk, false, sendPhotoAhead)
	}
}

func benchPhotoUpload(b *testing.B, name string, chunk int, shared bool) {
	benchPhotoUploadWith(b, name, chunk, shared, sendPhoto)
}

func benchPhotoUploadWith(b *testing.B, name string, chunk int, shared bool,
	send func(context.Context, fieldsyncv1connect.MediaServiceClient, string, []byte, int64, int64, int) error) {
	b.Run(name, func(b *testing.B) {
		pb := newPhotoBenchStaging(b, shared)
		pb.send = send
		data := photostest.JPEG(5<<20, 1)
		var seq uint64
		var phases, cpu [4]time.Duration // create, chunks, complete, direct PutObject
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			pb.uploadBoth(b, fresh(b, data, &seq), data, chunk, &phases, &cpu)
		}
		ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
		fieldsync := phases[0] + phases[1] + phases[2]
		mb := float64(len(data)) * float64(b.N) / 1e6
		b.ReportMetric(mb/fieldsync.Seconds(), "fieldsync-MB/s")
		b.ReportMetric(mb/phases[3].Seconds(), "putobject-MB/s")
		b.ReportMetric(phases[3].Seconds()/fieldsync.Seconds(), "ratio")
		b.ReportMetric(ms(phases[0]), "create-ms")
		b.ReportMetric(ms(phases[1]), "chunks-ms")
		b.ReportMetric(ms(phases[2]), "complete-ms")
		b.ReportMetric(ms(phases[3]), "putobject-ms")
		// CPU time of this process (client and daemon; versitygw runs in
		// its own): steadier than wall time on a loaded machine.
		b.ReportMetric(ms(cpu[0]+cpu[1]+cpu[2]), "fieldsync-cpu-ms")
		b.ReportMetric(ms(cpu[3]), "putobject-cpu-ms")
		benchenv.ReportLoad(b)
	})
}

// uploadBoth sends data through fieldsync in chunks of n bytes, then
// straight to S3, adding each phase's time to phases and the process's
// CPU time in it to cpu.
func (pb *photoBench) uploadBoth(b *testing.B, key string, data []byte, n int, phases, cpu *[4]time.Duration) {
	ctx := b.Context()
	media := mediaClient(pb.d, pb.token, nil)
	var c [5]time.Duration
	c[0] = benchenv.CPUTime()
	t0 := time.Now()
	u, err := createPhoto(ctx, media, key, data)
	if err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	c[1] = benchenv.CPUTime()
	if err := pb.send(ctx, media, u.UploadId, data, 0, u.SizeBytes, n); err != nil {
		b.Fatal(err)
	}
	t2 := time.Now()
	c[2] = benchenv.CPUTime()
	if _, err := completePhoto(ctx, media, u.UploadId); err != nil {
		b.Fatal(err)
	}
	t3 := time.Now()
	c[3] = benchenv.CPUTime()
	if _, err := pb.minio.PutObject(ctx, pb.bucket, key+"-direct", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		b.Fatal(err)
	}
	t4 := time.Now()
	c[4] = benchenv.CPUTime()
	for i, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
		phases[i] += d
		cpu[i] += c[i+1] - c[i]
	}
}

// sendPhotoAhead is sendPhoto sending each chunk before the answer to
// the one before, two in flight (see photos.Service.PutChunk).
func sendPhotoAhead(ctx context.Context, c fieldsyncv1connect.MediaServiceClient, id string, data []byte, off, end int64, n int) error {
	type result struct {
		off int64
		err error
	}
	var prev chan result
	for off < end {
		chunk := data[off:min(off+int64(n), end)]
		next := make(chan result, 1)
		go func(off int64) {
			res, err := c.PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
				UploadId: id, Offset: off, Data: chunk, Crc32C: photos.CRC32C(chunk),
			}))
			if err != nil {
				next <- result{err: fmt.Errorf("put chunk at %d: %w", off, err)}
				return
			}
			next <- result{off: res.Msg.Offset}
		}(off)
		off += int64(len(chunk))
		if prev != nil {
			if r := <-prev; r.err != nil {
				<-next
				return r.err
			}
		}
		prev = next
	}
	if prev != nil {
		return (<-prev).err
	}
	return nil
}

// BenchmarkPhotoResume measures what a resume costs on top of the upload:
// GetUpload (the durable offset) plus resending one 256 KiB chunk, next to
// a plain 256 KiB PutChunk.
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoResume ./e2e/
func BenchmarkPhotoResume(b *testing.B) {
	pb := newPhotoBench(b)
	media := mediaClient(pb.d, pb.token, nil)
	ctx := context.Background()
	for _, resume := range []bool{false, true} {
		name := map[bool]string{false: "PutChunk256KiB", true: "GetUploadPlusPutChunk256KiB"}[resume]
		b.Run(name, func(b *testing.B) {
			data := photostest.JPEG(16*chunkSize, uint64(len(name)))
			var seq uint64
			var u *fieldsyncv1.Upload
			var off int64
			for b.Loop() {
				if u == nil || off == u.SizeBytes { // a new photo, outside the timer
					key := fresh(b, data, &seq)
					b.StopTimer()
					var err error
					if u, err = createPhoto(ctx, media, key, data); err != nil {
						b.Fatal(err)
					}
					off = 0
					b.StartTimer()
				}
				if resume {
					res, err := media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
					if err != nil {
						b.Fatal(err)
					}
					off = res.Msg.Upload.Offset
				}
				if err := sendPhoto(ctx, media, u.UploadId, data, off, off+chunkSize, chunkSize); err != nil {
					b.Fatal(err)
				}
				off += chunkSize
			}
		})
	}
}

// BenchmarkPhotoKnownHash measures CreateUpload of a photo the tenant
// already holds: complete at once, no byte sent. It reports the HTTP
// requests per upload (1 is one round trip).
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoKnownHash ./e2e/
func BenchmarkPhotoKnownHash(b *testing.B) {
	pb := newPhotoBench(b)
	data := photostest.JPEG(5<<20, 2)
	key := photostest.Key(data)
	if _, err := uploadPhoto(context.Background(), mediaClient(pb.d, pb.token, nil), key, data, 4<<20); err != nil {
		b.Fatal(err)
	}
	counted := mediaClient(pb.d, pb.token, &http.Client{Transport: pb.counter})
	pb.counter.n.Store(0)
	for b.Loop() {
		u, err := createPhoto(context.Background(), counted, key, data)
		if err != nil {
			b.Fatal(err)
		}
		if u.State != fieldsyncv1.UploadState_UPLOAD_STATE_COMPLETE {
			b.Fatalf("create of a known photo = %v", u)
		}
	}
	b.ReportMetric(float64(pb.counter.n.Load())/float64(b.N), "requests/op")
}

// TestPhotoChunksSentAheadOverHTTP sends a photo with each chunk before
// the answer to the one before, and shows that another device (in the
// tenant or not) sending a chunk ahead on the upload is not found, at once.
func TestPhotoChunksSentAheadOverHTTP(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	director, _ := creds.User("regional_director")
	ctx := context.Background()
	data := photostest.JPEG(600_000, 41)
	media := mediaClient(d, rep.DeviceToken, nil)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{secondRep(t, creds), director.DeviceToken} {
		chunk := data[chunkSize : 2*chunkSize]
		_, err := mediaClient(d, token, nil).PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
			UploadId: u.UploadId, Offset: chunkSize, Data: chunk, Crc32C: photos.CRC32C(chunk),
		}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("another device's chunk ahead = %v, want NotFound", err)
		}
	}
	if err := sendPhotoAhead(ctx, media, u.UploadId, data, 0, u.SizeBytes, 64<<10); err != nil {
		t.Fatal(err)
	}
	res, err := completePhoto(ctx, media, u.UploadId)
	if err != nil || res.Photo.GetSha256() != photostest.Key(data) {
		t.Fatalf("complete = %v, %v", res, err)
	}
}

// BenchmarkPhotoUploadOverLatency sends a 5 MiB photo through fieldsync
// in 256 KiB chunks over a link holding each request back 10 ms, one
// chunk at a time (as the SDKs do) and two in flight (sendPhotoAhead).
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoUploadOverLatency -benchtime 10x ./e2e/
func BenchmarkPhotoUploadOverLatency(b *testing.B) {
	for _, ahead := range []bool{false, true} {
		name, send := "one-at-a-time", sendPhoto
		if ahead {
			name, send = "two-in-flight", sendPhotoAhead
		}
		b.Run(name, func(b *testing.B) {
			pb := newPhotoBench(b)
			media := mediaClient(pb.d, pb.token, &http.Client{Transport: benchenv.DelayedTransport{Delay: 10 * time.Millisecond}})
			data := photostest.JPEG(5<<20, 3)
			var seq uint64
			var each [4][]time.Duration // per photo: whole, create, chunks, complete
			ctx := b.Context()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				key := fresh(b, data, &seq)
				var t [4]time.Time
				t[0] = time.Now()
				u, err := createPhoto(ctx, media, key, data)
				t[1] = time.Now()
				if err == nil {
					err = send(ctx, media, u.UploadId, data, 0, u.SizeBytes, 256<<10)
				}
				t[2] = time.Now()
				if err == nil {
					_, err = completePhoto(ctx, media, u.UploadId)
				}
				t[3] = time.Now()
				if err != nil {
					b.Fatal(err)
				}
				each[0] = append(each[0], t[3].Sub(t[0]))
				for i := 1; i < 4; i++ {
					each[i] = append(each[i], t[i].Sub(t[i-1]))
				}
			}
			for i, name := range []string{"photo", "create", "chunks", "complete"} {
				b.ReportMetric(quantile(each[i], 0.5).Seconds()*1000, name+"-p50-ms")
			}
			benchenv.ReportLoad(b)
		})
	}
}

// BenchmarkPhotoUploadRoutes5MiB sends a 5 MiB photo through fieldsync
// twice per iteration, its chunks once as PutChunk calls (connect) and
// once as raw PUTs (put: PUT /photos/v1/uploads/{id}, the chunk's bytes
// as the body, no protobuf envelope), the two in alternating order, then
// PutObjects the same bytes to the same versitygw. It reports each
// route's ratio (direct PutObject time / fieldsync time: 1 means no
// overhead) and ms per photo, measured side by side in one run, with
// the raw route's time in Create, the chunks and Complete.
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoUploadRoutes5MiB -benchtime 20x ./e2e/
func BenchmarkPhotoUploadRoutes5MiB(b *testing.B) {
	for _, chunk := range []int{256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			pb := newPhotoBench(b)
			ctx := b.Context()
			media := mediaClient(pb.d, pb.token, nil)
			raw := rawChunks{url: pb.d.URL(), token: pb.token, hc: http.DefaultClient}
			data := photostest.JPEG(5<<20, 4)
			var seq uint64
			var took [3]time.Duration   // connect, put, direct PutObject
			var cpu [2]time.Duration    // connect, put: this process's (client and daemon)
			var phases [3]time.Duration // put: create, chunks, complete
			var each [5][]time.Duration // per photo: put, putobject, put's create, chunks, complete
			upload := func(send func(id string, off, end int64) error, cpu *time.Duration, phases *[3]time.Duration) time.Duration {
				key := fresh(b, data, &seq)
				c0 := benchenv.CPUTime()
				defer func() { *cpu += benchenv.CPUTime() - c0 }()
				var t [4]time.Time
				t[0] = time.Now()
				u, err := createPhoto(ctx, media, key, data)
				t[1] = time.Now()
				if err == nil {
					err = send(u.UploadId, 0, u.SizeBytes)
				}
				t[2] = time.Now()
				if err == nil {
					_, err = completePhoto(ctx, media, u.UploadId)
				}
				t[3] = time.Now()
				if err != nil {
					b.Fatal(err)
				}
				if phases != nil {
					for i := range phases {
						phases[i] += t[i+1].Sub(t[i])
						each[2+i] = append(each[2+i], t[i+1].Sub(t[i]))
					}
					each[0] = append(each[0], t[3].Sub(t[0]))
				}
				return t[3].Sub(t[0])
			}
			viaConnect := func(id string, off, end int64) error { return sendPhoto(ctx, media, id, data, off, end, chunk) }
			viaPut := func(id string, off, end int64) error { return raw.send(ctx, id, data, off, end, chunk) }
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if i++; i%2 == 0 {
					took[0] += upload(viaConnect, &cpu[0], nil)
					took[1] += upload(viaPut, &cpu[1], &phases)
				} else {
					took[1] += upload(viaPut, &cpu[1], &phases)
					took[0] += upload(viaConnect, &cpu[0], nil)
				}
				key := fresh(b, data, &seq)
				t0 := time.Now()
				if _, err := pb.minio.PutObject(ctx, pb.bucket, key+"-direct", bytes.NewReader(data), int64(len(data)),
					minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
					b.Fatal(err)
				}
				took[2] += time.Since(t0)
				each[1] = append(each[1], time.Since(t0))
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
			b.ReportMetric(took[2].Seconds()/took[0].Seconds(), "ratio-connect")
			b.ReportMetric(took[2].Seconds()/took[1].Seconds(), "ratio-put")
			b.ReportMetric(ms(took[0]), "connect-ms")
			b.ReportMetric(ms(took[1]), "put-ms")
			b.ReportMetric(ms(took[2]), "putobject-ms")
			b.ReportMetric(ms(phases[0]), "put-create-ms")
			b.ReportMetric(ms(phases[1]), "put-chunks-ms")
			b.ReportMetric(ms(phases[2]), "put-complete-ms")
			// CPU time: steadier than wall time on a loaded machine.
			b.ReportMetric(ms(cpu[0]), "connect-cpu-ms")
			b.ReportMetric(ms(cpu[1]), "put-cpu-ms")
			// Medians and the 90th percentile: one slow commit or fsync on
			// a shared disk moves a mean of 20 photos.
			msq := func(d []time.Duration, q float64) float64 { return quantile(d, q).Seconds() * 1000 }
			b.ReportMetric(msq(each[1], 0.5)/msq(each[0], 0.5), "ratio-put-p50")
			b.ReportMetric(msq(each[0], 0.5), "put-p50-ms")
			b.ReportMetric(msq(each[0], 0.9), "put-p90-ms")
			b.ReportMetric(msq(each[1], 0.5), "putobject-p50-ms")
			b.ReportMetric(msq(each[2], 0.5), "put-create-p50-ms")
			b.ReportMetric(msq(each[4], 0.5), "put-complete-p50-ms")
			b.ReportMetric(msq(each[4], 0.9), "put-complete-p90-ms")
			benchenv.ReportLoad(b)
		})
	}
}

// quantile returns the q-quantile (nearest rank) of ds, which it sorts.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// rawChunks sends chunks on the raw chunk route (server/chunkput.go).
type rawChunks struct {
	url, token string
	hc         *http.Client
	// pace, when set, is the bytes per second a chunk's body is sent at:
	// a device's link rather than the loopback.
	pace float64
}

// pacedReader reads r at most pace bytes per second since its first read.
type pacedReader struct {
	r     io.Reader
	pace  float64
	start time.Time
	n     int
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	n, err := p.r.Read(b[:min(len(b), 32<<10)])
	p.n += n
	if d := time.Duration(float64(p.n)/p.pace*float64(time.Second)) - time.Since(p.start); d > 0 {
		time.Sleep(d)
	}
	return n, err
}

// send puts data from off to end in chunks of n bytes, one at a time.
func (r rawChunks) send(ctx context.Context, id string, data []byte, off, end int64, n int) error {
	for off < end {
		chunk := data[off:min(off+int64(n), end)]
		var rd io.Reader = bytes.NewReader(chunk)
		if r.pace > 0 {
			rd = &pacedReader{r: rd, pace: r.pace}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut,
			r.url+server.ChunkPutPath+url.PathEscape(id)+"?offset="+strconv.FormatInt(off, 10), rd)
		if err != nil {
			return err
		}
		req.ContentLength = int64(len(chunk))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set(server.CRC32CHeader, strconv.FormatUint(uint64(photos.CRC32C(chunk)), 10))
		res, err := r.hc.Do(req)
		if err != nil {
			return fmt.Errorf("put chunk at %d: %w", off, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("put chunk at %d: %w", off, err)
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("put chunk at %d: %s: %s", off, res.Status, body)
		}
		if off, err = strconv.ParseInt(res.Header.Get(server.OffsetHeader), 10, 64); err != nil {
			return fmt.Errorf("put chunk: offset header: %w", err)
		}
	}
	return nil
}

// BenchmarkPhotoRawUploadPaced5MiB sends a 5 MiB photo through fieldsync
// into versitygw, its chunks as raw PUTs whose bodies go at 40 MB/s (a
// fast device link, where a chunk takes a while to arrive; the loopback
// takes a 4 MiB body in a few ms), and reports ms per photo in Create,
// the chunks and Complete.
//
//	VERSITYGW=$PWD/.tools/bin/versitygw go test -run '^$' -bench PhotoRawUploadPaced5MiB -benchtime 10x ./e2e/
func BenchmarkPhotoRawUploadPaced5MiB(b *testing.B) {
	for _, chunk := range []int{1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			pb := newPhotoBench(b)
			ctx := b.Context()
			media := mediaClient(pb.d, pb.token, nil)
			raw := rawChunks{url: pb.d.URL(), token: pb.token, hc: http.DefaultClient, pace: 40e6}
			data := photostest.JPEG(5<<20, 5)
			var seq uint64
			var phases [3]time.Duration
			for b.Loop() {
				key := fresh(b, data, &seq)
				t0 := time.Now()
				u, err := createPhoto(ctx, media, key, data)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := raw.send(ctx, u.UploadId, data, 0, u.SizeBytes, chunk); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := completePhoto(ctx, media, u.UploadId); err != nil {
					b.Fatal(err)
				}
				for i, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), time.Since(t2)} {
					phases[i] += d
				}
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
			b.ReportMetric(ms(phases[0]+phases[1]+phases[2]), "photo-ms")
			b.ReportMetric(ms(phases[0]), "create-ms")
			b.ReportMetric(ms(phases[1]), "chunks-ms")
			b.ReportMetric(ms(phases[2]), "complete-ms")
			benchenv.ReportLoad(b)
		})
	}
}

// TestPhotoRawChunksThroughTheDaemon sends a photo's chunks as raw PUTs
// to a running daemon (its photo service wrapped as in production) and
// shows another device's raw chunk on the upload is not found.
func TestPhotoRawChunksThroughTheDaemon(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	ctx := context.Background()
	data := photostest.JPEG(300_000, 42)
	media := mediaClient(d, rep.DeviceToken, nil)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	other := rawChunks{url: d.URL(), token: secondRep(t, creds), hc: http.DefaultClient}
	if err := other.send(ctx, u.UploadId, data, 0, chunkSize, chunkSize); err == nil || !strings.Contains(err.Error(), `"code":"not_found"`) {
		t.Fatalf("another device's raw chunk = %v, want not_found", err)
	}
	raw := rawChunks{url: d.URL(), token: rep.DeviceToken, hc: http.DefaultClient}
	if err := raw.send(ctx, u.UploadId, data, 0, u.SizeBytes, 64<<10); err != nil {
		t.Fatal(err)
	}
	res, err := completePhoto(ctx, media, u.UploadId)
	if err != nil || res.Photo.GetSha256() != photostest.Key(data) {
		t.Fatalf("complete = %v, %v", res, err)
	}
}

// TestPhotoRawChunkDamagedOnItsWayToS3StoresTheRightBytes: a raw chunk
// damaged on its way (its CRC32C no longer matches) is refused, nothing of
// it reaches the upload's S3 stream, and the photo stored after the device
// resends it has the right bytes.
func TestPhotoRawChunkDamagedOnItsWayToS3StoresTheRightBytes(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	d, creds := startDaemon(t, "", withS3(srv, newMediaBucket()))
	rep, _ := creds.User("rep")
	ctx := context.Background()
	media := mediaClient(d, rep.DeviceToken, nil)
	data := photostest.JPEG(5<<20, 7)
	pushSurgery(t, d, rep.DeviceToken, data, nil, nil)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), data[:4<<20]...)
	damaged[1000] ^= 0x40
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.URL()+server.ChunkPutPath+u.UploadId+"?offset=0", bytes.NewReader(damaged))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+rep.DeviceToken)
	req.Header.Set(server.CRC32CHeader, strconv.FormatUint(uint64(photos.CRC32C(data[:4<<20])), 10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"code":"data_loss"`) {
		t.Fatalf("damaged chunk = %s %s, want data_loss", res.Status, body)
	}
	raw := rawChunks{url: d.URL(), token: rep.DeviceToken, hc: http.DefaultClient}
	if err := raw.send(ctx, u.UploadId, data, 0, u.SizeBytes, 4<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := completePhoto(ctx, media, u.UploadId); err != nil {
		t.Fatal(err)
	}
	url, err := mediaURL(media, data)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(t, url); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored photo: %d bytes (equal %v), %v", len(got), bytes.Equal(got, data), err)
	}
}
