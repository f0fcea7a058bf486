package imagecheck

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Metadata is what ReadMetadata takes from a photo's EXIF.
type Metadata struct {
	// CaptureTime is when the photo was taken: EXIF DateTimeOriginal, else
	// DateTime; zero when neither is present and valid. With an EXIF
	// offset (OffsetTimeOriginal, or OffsetTime for DateTime) it is an
	// instant in that fixed zone and HasCaptureOffset is true; without one
	// the camera's wall-clock reading is given as if it were UTC.
	CaptureTime      time.Time
	HasCaptureOffset bool
	// HasLocation says Latitude and Longitude hold the EXIF GPS position,
	// in decimal degrees, south and west negative.
	HasLocation         bool
	Latitude, Longitude float64
}

var (
	// ErrUnsupported means ReadMetadata does not know the content type.
	ErrUnsupported = errors.New("imagecheck: unsupported content type")
	// ErrMalformed means the bytes are not a well-formed file of the given
	// type as far as the metadata walk went, or hold metadata beyond this
	// package's size limits.
	ErrMalformed = errors.New("imagecheck: malformed image")
)

// Limits on what is read from untrusted input.
const (
	maxExifSize = 1 << 20 // bytes of one EXIF block
	maxMetaBox  = 1 << 20 // bytes of a HEIF meta box
	maxSegments = 4096    // JPEG markers, PNG and WebP chunks, boxes
)

// ReadMetadata reads the EXIF capture time and GPS position of the photo of
// the given content type (as Detect returned it) held in r's first size
// bytes. JPEG (APP1), PNG (eXIf), WebP (EXIF chunk) and HEIC/HEIF (Exif
// item) are read; a photo without EXIF, or whose EXIF lacks these tags or
// has damaged ones, gives an empty or partial Metadata and no error.
//
// It returns ErrUnsupported for another content type, an error wrapping
// ErrMalformed when the container cannot be walked to its EXIF, and r's
// errors other than io.EOF.
func ReadMetadata(r io.ReaderAt, size int64, contentType string) (Metadata, error) {
	src := source{r: r, size: size}
	var (
		exif []byte
		err  error
	)
	switch contentType {
	case JPEG:
		exif, err = jpegExif(src)
	case PNG:
		exif, err = pngExif(src)
	case WebP:
		exif, err = webpExif(src)
	case HEIC, HEIF:
		exif, err = heifExif(src)
	default:
		return Metadata{}, fmt.Errorf("%w: %q", ErrUnsupported, contentType)
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("read %s metadata: %w", contentType, err)
	}
	if exif == nil {
		return Metadata{}, nil
	}
	md, err := parseExif(exif)
	if err != nil {
		return Metadata{}, fmt.Errorf("read %s metadata: %w", contentType, err)
	}
	return md, nil
}

// source reads bounded pieces of an untrusted file.
type source struct {
	r    io.ReaderAt
	size int64
}

// read returns the n bytes at off. Asking past the end, or for more than
// the caps allow, fails with ErrMalformed.
func (s source) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || n > max(maxExifSize, maxMetaBox) || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("%w: %d bytes at %d out of bounds", ErrMalformed, n, off)
	}
	b := make([]byte, n)
	got, err := s.r.ReadAt(b, off)
	switch {
	case got == len(b):
		return b, nil
	case err == io.EOF || err == nil:
		return nil, fmt.Errorf("%w: truncated at %d", ErrMalformed, off+int64(got))
	default:
		return nil, err
	}
}
