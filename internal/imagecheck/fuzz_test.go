package imagecheck_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
)

var contentTypes = []string{imagecheck.JPEG, imagecheck.PNG, imagecheck.WebP, imagecheck.HEIC, imagecheck.HEIF}

// seeds are well-formed files of every container, with and without EXIF.
func seeds(t testing.TB) [][]byte {
	tiff := fullExif(binary.LittleEndian)
	be := fullExif(binary.BigEndian)
	return [][]byte{
		jpegWith(t, exifSegment(tiff)),
		jpegWith(t, segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00")), exifSegment(be)),
		encodedJPEG(t),
		pngWith(t, tiff),
		webpWith(be),
		heicWith(tiff, false),
		heicWith(be, true),
		heicV2With(tiff, 3),
		ftyp("mif1", "mif1", "heic"),
		ftyp("avif", "mif1"),
		tiff,
	}
}

func FuzzDetect(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		ct, ok := imagecheck.Detect(head)
		if ok != (ct != "") {
			t.Fatalf("Detect = %q, %v", ct, ok)
		}
		if ok && !slices.Contains(contentTypes, ct) {
			t.Fatalf("Detect = %q, not a known type", ct)
		}
		if len(head) > imagecheck.HeadSize {
			if ct2, _ := imagecheck.Detect(head[:imagecheck.HeadSize]); ct2 != ct {
				t.Fatalf("Detect looked past HeadSize: %q vs %q", ct, ct2)
			}
		}
	})
}

func FuzzReadMetadata(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, lieAboutSize bool) {
		size := int64(len(data))
		if lieAboutSize {
			size += 1 << 30
		}
		for _, ct := range contentTypes {
			r := &boundedReaderAt{t: t, r: bytes.NewReader(data)}
			md, err := imagecheck.ReadMetadata(r, size, ct)
			checkInvariants(t, ct, md, err)
		}
	})
}

func checkInvariants(t *testing.T, ct string, md imagecheck.Metadata, err error) {
	t.Helper()
	if errors.Is(err, imagecheck.ErrUnsupported) {
		t.Fatalf("%s: unsupported", ct)
	}
	if err != nil && md != (imagecheck.Metadata{}) {
		t.Fatalf("%s: error %v with metadata %+v", ct, err, md)
	}
	if md.HasLocation {
		if math.IsNaN(md.Latitude) || math.IsNaN(md.Longitude) || math.Abs(md.Latitude) > 90 || math.Abs(md.Longitude) > 180 {
			t.Fatalf("%s: location out of range: %+v", ct, md)
		}
	} else if md.Latitude != 0 || md.Longitude != 0 {
		t.Fatalf("%s: coordinates without location: %+v", ct, md)
	}
	if y := md.CaptureTime.UTC().Year(); !md.CaptureTime.IsZero() && (y < 1 || y > 9999) {
		t.Fatalf("%s: capture time out of range: %v", ct, md.CaptureTime)
	}
	if md.HasCaptureOffset && md.CaptureTime.IsZero() {
		t.Fatalf("%s: offset without time", ct)
	}
}

// boundedReaderAt fails the test on any read larger than the package's
// 1 MiB cap, which would mean an allocation sized by untrusted input.
type boundedReaderAt struct {
	t *testing.T
	r *bytes.Reader
}

func (b *boundedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > 1<<20 {
		b.t.Fatalf("read of %d bytes at %d", len(p), off)
	}
	return b.r.ReadAt(p, off)
}
