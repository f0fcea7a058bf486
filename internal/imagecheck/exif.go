package imagecheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"
)

// EXIF tags read here.
const (
	tagDateTime           = 0x0132 // IFD0
	tagExifIFD            = 0x8769 // IFD0
	tagGPSIFD             = 0x8825 // IFD0
	tagDateTimeOriginal   = 0x9003 // Exif IFD
	tagOffsetTime         = 0x9010 // Exif IFD, for DateTime
	tagOffsetTimeOriginal = 0x9011 // Exif IFD, for DateTimeOriginal
	tagGPSLatitudeRef     = 0x0001 // GPS IFD
	tagGPSLatitude        = 0x0002
	tagGPSLongitudeRef    = 0x0003
	tagGPSLongitude       = 0x0004
)

// TIFF field types used here.
const (
	typeASCII     = 2
	typeLong      = 4
	typeRational  = 5
	typeSRational = 10
	typeIFD       = 13
)

// maxIFDEntries caps the entries read from one IFD.
const maxIFDEntries = 1024

// tiff is an EXIF block: a TIFF header and the IFDs it points to. Only
// IFD0 and the Exif and GPS IFDs it points to are read, never the chain of
// next IFDs, so a cycle of offsets cannot make the walk loop.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

// entry is one IFD entry; pos is where its 12 bytes start.
type entry struct {
	tag, typ uint16
	count    uint32
	pos      int
}

// parseExif reads capture time and position from an EXIF block. Only a
// damaged TIFF header is an error; damaged fields are skipped.
func parseExif(b []byte) (Metadata, error) {
	if len(b) < 8 {
		return Metadata{}, fmt.Errorf("%w: EXIF block of %d bytes", ErrMalformed, len(b))
	}
	t := tiff{b: b}
	switch string(b[0:4]) {
	case "II*\x00":
		t.bo = binary.LittleEndian
	case "MM\x00*":
		t.bo = binary.BigEndian
	default:
		return Metadata{}, fmt.Errorf("%w: no TIFF header in EXIF", ErrMalformed)
	}
	ifd0 := t.ifd(t.bo.Uint32(b[4:8]))
	var exif, gps []entry
	if off, ok := t.pointer(ifd0, tagExifIFD); ok {
		exif = t.ifd(off)
	}
	if off, ok := t.pointer(ifd0, tagGPSIFD); ok {
		gps = t.ifd(off)
	}
	var md Metadata
	md.CaptureTime, md.HasCaptureOffset = t.captureTime(ifd0, exif)
	md.Latitude, md.Longitude, md.HasLocation = t.location(gps)
	return md, nil
}

// ifd returns the entries of the IFD at off, as many as fit in the block.
func (t tiff) ifd(off uint32) []entry {
	if off < 8 || uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := int(t.bo.Uint16(t.b[off:]))
	n = min(n, (len(t.b)-int(off)-2)/12, maxIFDEntries)
	entries := make([]entry, n)
	for i := range entries {
		p := int(off) + 2 + 12*i
		entries[i] = entry{
			tag:   t.bo.Uint16(t.b[p:]),
			typ:   t.bo.Uint16(t.b[p+2:]),
			count: t.bo.Uint32(t.b[p+4:]),
			pos:   p,
		}
	}
	return entries
}

// value returns the bytes of an entry's value (inline when 4 bytes or
// fewer), or nil when they lie outside the block.
func (t tiff) value(e entry, elemSize int) []byte {
	size := uint64(e.count) * uint64(elemSize)
	if size <= 4 {
		return t.b[e.pos+8 : e.pos+8+int(size)]
	}
	off := uint64(t.bo.Uint32(t.b[e.pos+8:]))
	if off+size > uint64(len(t.b)) {
		return nil
	}
	return t.b[off : off+size]
}

func find(entries []entry, tag uint16) (entry, bool) {
	for _, e := range entries {
		if e.tag == tag {
			return e, true
		}
	}
	return entry{}, false
}

// pointer returns the IFD offset held in tag.
func (t tiff) pointer(entries []entry, tag uint16) (uint32, bool) {
	e, ok := find(entries, tag)
	if !ok || (e.typ != typeLong && e.typ != typeIFD) || e.count != 1 {
		return 0, false
	}
	return t.bo.Uint32(t.value(e, 4)), true
}

// ascii returns the text of an ASCII tag up to its first NUL, trimmed.
func (t tiff) ascii(entries []entry, tag uint16) string {
	e, ok := find(entries, tag)
	if !ok || e.typ != typeASCII {
		return ""
	}
	v := t.value(e, 1)
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(string(v))
}

// rationals3 returns the three (S)RATIONAL values of a GPS coordinate tag.
func (t tiff) rationals3(entries []entry, tag uint16) ([3]float64, bool) {
	var out [3]float64
	e, ok := find(entries, tag)
	if !ok || (e.typ != typeRational && e.typ != typeSRational) || e.count < 3 {
		return out, false
	}
	e.count = 3
	v := t.value(e, 8)
	if v == nil {
		return out, false
	}
	for i := range out {
		num, den := t.bo.Uint32(v[8*i:]), t.bo.Uint32(v[8*i+4:])
		switch {
		case e.typ == typeSRational && (int32(num) < 0 || int32(den) < 0):
			return out, false
		case den == 0 && num != 0:
			return out, false
		case den != 0:
			out[i] = float64(num) / float64(den)
		}
	}
	return out, true
}

// captureTime returns DateTimeOriginal with its offset, else DateTime with its.
func (t tiff) captureTime(ifd0, exif []entry) (time.Time, bool) {
	if ts, hasOffset, ok := parseTime(t.ascii(exif, tagDateTimeOriginal), t.ascii(exif, tagOffsetTimeOriginal)); ok {
		return ts, hasOffset
	}
	ts, hasOffset, _ := parseTime(t.ascii(ifd0, tagDateTime), t.ascii(exif, tagOffsetTime))
	return ts, hasOffset
}

// parseTime reads an EXIF "YYYY:MM:DD HH:MM:SS" and an optional "±HH:MM".
// Times whose instant falls outside years 1 to 9999 are refused.
func parseTime(dt, offset string) (ts time.Time, hasOffset, ok bool) {
	if len(dt) < 19 {
		return time.Time{}, false, false
	}
	ts, err := time.Parse("2006:01:02 15:04:05", dt[:19])
	if err != nil {
		return time.Time{}, false, false
	}
	if secs, ok := parseOffset(offset); ok {
		ts = time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0,
			time.FixedZone(offset, secs))
		hasOffset = true
	}
	if y := ts.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, false, false
	}
	return ts, hasOffset, true
}

// parseOffset reads "+HH:MM" or "-HH:MM" (up to 14 hours) into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	h, okH := twoDigits(s[1:3])
	m, okM := twoDigits(s[4:6])
	if !okH || !okM || h > 14 || m > 59 {
		return 0, false
	}
	secs := (h*60 + m) * 60
	if s[0] == '-' {
		secs = -secs
	}
	return secs, true
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// location returns the GPS position in signed decimal degrees. A position
// without its N/S and E/W references, or out of range, is refused.
func (t tiff) location(gps []entry) (lat, lon float64, ok bool) {
	lat, okLat := t.coordinate(gps, tagGPSLatitude, tagGPSLatitudeRef, "N", "S", 90)
	lon, okLon := t.coordinate(gps, tagGPSLongitude, tagGPSLongitudeRef, "E", "W", 180)
	if !okLat || !okLon {
		return 0, 0, false
	}
	return lat, lon, true
}

func (t tiff) coordinate(gps []entry, tag, refTag uint16, pos, neg string, limit float64) (float64, bool) {
	dms, ok := t.rationals3(gps, tag)
	if !ok {
		return 0, false
	}
	v := dms[0] + dms[1]/60 + dms[2]/3600
	if math.IsNaN(v) || v > limit {
		return 0, false
	}
	switch t.ascii(gps, refTag) {
	case pos:
		return v, true
	case neg:
		return -v, true
	}
	return 0, false
}
