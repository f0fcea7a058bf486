package imagecheck_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
)

// Tags, as the builder needs them.
const (
	tDateTime           = 0x0132
	tDateTimeOriginal   = 0x9003
	tOffsetTime         = 0x9010
	tOffsetTimeOriginal = 0x9011
	tLatRef, tLat       = 0x0001, 0x0002
	tLonRef, tLon       = 0x0003, 0x0004
)

// eiffel is 48°51'29.88"N 2°17'40.2"E.
var eiffel = []field{
	ascii(tLatRef, "N"), dms(tLat, 48, 1, 51, 1, 2988, 100),
	ascii(tLonRef, "E"), dms(tLon, 2, 1, 17, 1, 402, 10),
}

const eiffelLat, eiffelLon = 48 + 51/60.0 + 29.88/3600, 2 + 17/60.0 + 40.2/3600

// fullExif has capture time with offset and a position.
func fullExif(bo binary.ByteOrder) []byte {
	return exifBlock{
		bo:   bo,
		ifd0: []field{ascii(tDateTime, "2024:05:06 10:00:00")},
		exif: []field{ascii(tDateTimeOriginal, "2024:05:06 07:08:09"), ascii(tOffsetTimeOriginal, "+02:00")},
		gps:  eiffel,
	}.build()
}

var fullWant = imagecheck.Metadata{
	CaptureTime:      time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC),
	HasCaptureOffset: true,
	HasLocation:      true,
	Latitude:         eiffelLat,
	Longitude:        eiffelLon,
}

func read(t *testing.T, data []byte, contentType string) (imagecheck.Metadata, error) {
	t.Helper()
	return imagecheck.ReadMetadata(bytes.NewReader(data), int64(len(data)), contentType)
}

func checkMetadata(t *testing.T, name string, got, want imagecheck.Metadata) {
	t.Helper()
	if !got.CaptureTime.Equal(want.CaptureTime) || got.HasCaptureOffset != want.HasCaptureOffset {
		t.Errorf("%s: capture time %v (offset %v), want %v (offset %v)",
			name, got.CaptureTime, got.HasCaptureOffset, want.CaptureTime, want.HasCaptureOffset)
	}
	if got.HasLocation != want.HasLocation ||
		math.Abs(got.Latitude-want.Latitude) > 1e-9 || math.Abs(got.Longitude-want.Longitude) > 1e-9 {
		t.Errorf("%s: location %v %f,%f, want %v %f,%f", name,
			got.HasLocation, got.Latitude, got.Longitude, want.HasLocation, want.Latitude, want.Longitude)
	}
}

func TestReadMetadataFindsExifInEveryContainer(t *testing.T) {
	t.Parallel()
	tiff := fullExif(binary.LittleEndian)
	tests := map[string]struct {
		data        []byte
		contentType string
	}{
		"jpeg":                {jpegWith(t, exifSegment(tiff)), imagecheck.JPEG},
		"jpeg after xmp app1": {jpegWith(t, segment(0xE0, []byte("JFIF\x00\x01\x01")), segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>")), exifSegment(tiff)), imagecheck.JPEG},
		"jpeg with fill":      {jpegWith(t, []byte{0xFF, 0xFF}, exifSegment(tiff)), imagecheck.JPEG},
		"png":                 {pngWith(t, tiff), imagecheck.PNG},
		"png, Exif prefix":    {pngWith(t, append([]byte("Exif\x00\x00"), tiff...)), imagecheck.PNG},
		"webp":                {webpWith(tiff), imagecheck.WebP},
		"webp, odd chunk":     {webpWith(append(tiff, 0)), imagecheck.WebP},
		"heic, mdat":          {heicWith(tiff, false), imagecheck.HEIC},
		"heic, idat":          {heicWith(tiff, true), imagecheck.HEIC},
		"heic as heif":        {heicWith(tiff, false), imagecheck.HEIF},
	}
	for name, tt := range tests {
		got, err := read(t, tt.data, tt.contentType)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkMetadata(t, name, got, fullWant)
	}
}

func TestReadMetadataReadsTimeAndPosition(t *testing.T) {
	t.Parallel()
	utc := func(y, mo, d, h, mi, s int) time.Time { return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC) }
	tests := map[string]struct {
		x    exifBlock
		want imagecheck.Metadata
	}{
		"big-endian": {exifBlock{bo: binary.BigEndian, exif: []field{ascii(tDateTimeOriginal, "2024:05:06 07:08:09"), ascii(tOffsetTimeOriginal, "+02:00")}, gps: eiffel}, fullWant},
		"original without offset is wall clock in utc": {
			exifBlock{exif: []field{ascii(tDateTimeOriginal, "2023:12:31 23:59:58")}},
			imagecheck.Metadata{CaptureTime: utc(2023, 12, 31, 23, 59, 58)}},
		"negative offset": {
			exifBlock{exif: []field{ascii(tDateTimeOriginal, "2023:12:31 23:59:58"), ascii(tOffsetTimeOriginal, "-05:30")}},
			imagecheck.Metadata{CaptureTime: utc(2024, 1, 1, 5, 29, 58), HasCaptureOffset: true}},
		"datetime when original absent": {
			exifBlock{ifd0: []field{ascii(tDateTime, "2020:02:29 12:00:00")}, exif: []field{ascii(tOffsetTime, "+01:00")}},
			imagecheck.Metadata{CaptureTime: utc(2020, 2, 29, 11, 0, 0), HasCaptureOffset: true}},
		"datetime when original blank": {
			exifBlock{ifd0: []field{ascii(tDateTime, "2020:02:29 12:00:00")}, exif: []field{ascii(tDateTimeOriginal, "    :  :     :  :  ")}},
			imagecheck.Metadata{CaptureTime: utc(2020, 2, 29, 12, 0, 0)}},
		"original offset not used for datetime": {
			exifBlock{ifd0: []field{ascii(tDateTime, "2020:02:29 12:00:00")}, exif: []field{ascii(tOffsetTimeOriginal, "+01:00")}},
			imagecheck.Metadata{CaptureTime: utc(2020, 2, 29, 12, 0, 0)}},
		"bad offset ignored": {
			exifBlock{exif: []field{ascii(tDateTimeOriginal, "2023:01:02 03:04:05"), ascii(tOffsetTimeOriginal, "++1:00")}},
			imagecheck.Metadata{CaptureTime: utc(2023, 1, 2, 3, 4, 5)}},
		"impossible date":   {exifBlock{exif: []field{ascii(tDateTimeOriginal, "2023:02:30 03:04:05")}}, imagecheck.Metadata{}},
		"year zero":         {exifBlock{exif: []field{ascii(tDateTimeOriginal, "0000:01:01 00:00:00")}}, imagecheck.Metadata{}},
		"time as number":    {exifBlock{exif: []field{long(tDateTimeOriginal, 5)}}, imagecheck.Metadata{}},
		"southern, western": {exifBlock{gps: []field{ascii(tLatRef, "S"), dms(tLat, 33, 1, 51, 1, 0, 0), ascii(tLonRef, "W"), dms(tLon, 70, 1, 30, 1, 0, 1)}}, imagecheck.Metadata{HasLocation: true, Latitude: -33.85, Longitude: -70.5}},
		"no refs":           {exifBlock{gps: []field{dms(tLat, 1, 1, 0, 1, 0, 1), dms(tLon, 1, 1, 0, 1, 0, 1)}}, imagecheck.Metadata{}},
		"latitude over 90":  {exifBlock{gps: []field{ascii(tLatRef, "N"), dms(tLat, 91, 1, 0, 1, 0, 1), ascii(tLonRef, "E"), dms(tLon, 1, 1, 0, 1, 0, 1)}}, imagecheck.Metadata{}},
		"zero denominator":  {exifBlock{gps: []field{ascii(tLatRef, "N"), dms(tLat, 1, 0, 0, 1, 0, 1), ascii(tLonRef, "E"), dms(tLon, 1, 1, 0, 1, 0, 1)}}, imagecheck.Metadata{}},
		"two rationals":     {exifBlock{gps: []field{ascii(tLatRef, "N"), dms(tLat, 1, 1, 0, 1), ascii(tLonRef, "E"), dms(tLon, 1, 1, 0, 1, 0, 1)}}, imagecheck.Metadata{}},
		"nothing":           {exifBlock{ifd0: []field{ascii(0x010F, "Camera Maker")}}, imagecheck.Metadata{}},
	}
	for name, tt := range tests {
		got, err := read(t, jpegWith(t, exifSegment(tt.x.build())), imagecheck.JPEG)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkMetadata(t, name, got, tt.want)
	}
}

func TestReadMetadataWithoutExifIsEmpty(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		imagecheck.JPEG: encodedJPEG(t),
		imagecheck.PNG:  encodedPNG(t),
		imagecheck.WebP: webpWith(nil)[:len(webpWith(nil))-8], // drop the empty EXIF chunk
		imagecheck.HEIC: append(ftyp("heic", "mif1"), box("mdat", []byte("x"))...),
	} {
		got, err := read(t, data, name)
		if err != nil || got != (imagecheck.Metadata{}) {
			t.Errorf("%s without EXIF: %+v, %v; want empty", name, got, err)
		}
	}
}

func TestReadMetadataRejectsWhatItCannotWalk(t *testing.T) {
	t.Parallel()
	jpegBytes := jpegWith(t, exifSegment(fullExif(binary.LittleEndian)))
	tests := map[string]struct {
		data        []byte
		contentType string
		want        error
	}{
		"gif":                 {[]byte("GIF89a"), "image/gif", imagecheck.ErrUnsupported},
		"png called jpeg":     {encodedPNG(t), imagecheck.JPEG, imagecheck.ErrMalformed},
		"jpeg called png":     {jpegBytes, imagecheck.PNG, imagecheck.ErrMalformed},
		"jpeg called webp":    {jpegBytes, imagecheck.WebP, imagecheck.ErrMalformed},
		"jpeg called heic":    {jpegBytes, imagecheck.HEIC, imagecheck.ErrMalformed},
		"jpeg cut in app1":    {jpegBytes[:40], imagecheck.JPEG, imagecheck.ErrMalformed},
		"bad tiff header":     {jpegWith(t, exifSegment([]byte("XX*\x00\x08\x00\x00\x00"))), imagecheck.JPEG, imagecheck.ErrMalformed},
		"short tiff":          {jpegWith(t, exifSegment([]byte("II*"))), imagecheck.JPEG, imagecheck.ErrMalformed},
		"segment length 1":    {append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01}, make([]byte, 20)...), imagecheck.JPEG, imagecheck.ErrMalformed},
		"png huge exif chunk": {append(encodedPNG(t)[:33], append(u32(1<<30), "eXIf"...)...), imagecheck.PNG, imagecheck.ErrMalformed},
	}
	for name, tt := range tests {
		got, err := read(t, tt.data, tt.contentType)
		if !errors.Is(err, tt.want) || got != (imagecheck.Metadata{}) {
			t.Errorf("%s: %+v, %v; want empty and %v", name, got, err, tt.want)
		}
	}
}

func TestReadMetadataSurvivesIFDCycles(t *testing.T) {
	t.Parallel()
	// IFD0 at 8 holds one entry: the Exif and GPS pointers both lead back
	// to IFD0, and its next-IFD offset points at itself.
	tiff := []byte("II*\x00\x08\x00\x00\x00" +
		"\x02\x00" +
		"\x69\x87\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00" +
		"\x25\x88\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00" +
		"\x08\x00\x00\x00")
	got, err := read(t, jpegWith(t, exifSegment(tiff)), imagecheck.JPEG)
	if err != nil || got != (imagecheck.Metadata{}) {
		t.Errorf("cyclic IFDs: %+v, %v; want empty", got, err)
	}
}

// failingReaderAt fails every read.
type failingReaderAt struct{ err error }

func (f failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, f.err }

func TestReadMetadataReturnsReaderErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk gone")
	for _, ct := range []string{imagecheck.JPEG, imagecheck.PNG, imagecheck.WebP, imagecheck.HEIC} {
		_, err := imagecheck.ReadMetadata(failingReaderAt{boom}, 1000, ct)
		if !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want the reader's", ct, err)
		}
	}
}

func TestReadMetadataTrustsNoSizeBeyondTheData(t *testing.T) {
	t.Parallel()
	data := jpegWith(t, exifSegment(fullExif(binary.LittleEndian)))
	got, err := imagecheck.ReadMetadata(bytes.NewReader(data[:30]), 1<<40, imagecheck.JPEG)
	if !errors.Is(err, imagecheck.ErrMalformed) || got != (imagecheck.Metadata{}) {
		t.Errorf("size larger than the data: %+v, %v; want ErrMalformed", got, err)
	}
}

func TestReadMetadataFollowsHEIFLayouts(t *testing.T) {
	t.Parallel()
	tiff := fullExif(binary.BigEndian)
	for _, extents := range []int{1, 3, 16} {
		got, err := read(t, heicV2With(tiff, extents), imagecheck.HEIC)
		if err != nil {
			t.Errorf("%d extents: %v", extents, err)
			continue
		}
		checkMetadata(t, fmt.Sprintf("%d extents", extents), got, fullWant)
	}
	got, err := read(t, heicV2With(tiff, 17), imagecheck.HEIC)
	if err != nil || got != (imagecheck.Metadata{}) {
		t.Errorf("17 extents: %+v, %v; want empty", got, err)
	}
}
