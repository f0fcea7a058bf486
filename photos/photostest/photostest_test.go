package photostest_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/photos/photostest"
)

func TestJPEGIsADetectableImageWithMetadata(t *testing.T) {
	t.Parallel()
	b := photostest.JPEG(4096, 1)
	if len(b) != 4096 {
		t.Fatalf("len = %d, want 4096", len(b))
	}
	ct, ok := imagecheck.Detect(b)
	if !ok || ct != imagecheck.JPEG {
		t.Fatalf("Detect = %q, %v", ct, ok)
	}
	md, err := imagecheck.ReadMetadata(bytes.NewReader(b), int64(len(b)), ct)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	want, _ := time.Parse(time.RFC3339, photostest.CaptureTime)
	if !md.CaptureTime.Equal(want) || !md.HasLocation ||
		math.Abs(md.Latitude-photostest.Latitude) > 1e-6 || math.Abs(md.Longitude-photostest.Longitude) > 1e-6 {
		t.Fatalf("metadata = %+v", md)
	}
}

func TestSeedsMakeDifferentPhotos(t *testing.T) {
	t.Parallel()
	if photostest.Key(photostest.JPEG(1000, 1)) == photostest.Key(photostest.JPEG(1000, 2)) {
		t.Fatal("two seeds gave the same photo")
	}
	if _, ok := imagecheck.Detect(photostest.NotAnImage(1000, 1)); ok {
		t.Fatal("NotAnImage was detected as an image")
	}
}
