// Package photostest makes photos for tests: JPEGs of any size that carry
// an EXIF capture time and GPS position, so every check the photo service
// runs on real uploads (hash, image type, metadata) runs on them too.
package photostest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// The EXIF values every photo carries.
const (
	// CaptureTime is the EXIF DateTimeOriginal (no offset: read as UTC).
	CaptureTime = "2024-05-01T08:30:00Z"
	// Latitude and Longitude are the GPS position (Shanghai), to 1e-6.
	Latitude  = 31.2304
	Longitude = 121.4737
)

// MinSize is the smallest photo JPEG makes.
const MinSize = 256

// JPEG returns a photo of exactly size bytes (at least MinSize): a JPEG
// start, an EXIF segment with CaptureTime and the GPS position, a start of
// scan, then bytes drawn from seed (different seeds, different photos).
func JPEG(size int, seed uint64) []byte {
	size = max(size, MinSize)
	tiff := exifBlock()
	var b bytes.Buffer
	b.Grow(size)
	b.Write([]byte{0xFF, 0xD8})
	b.Write([]byte{0xFF, 0xE1})
	binary.Write(&b, binary.BigEndian, uint16(2+6+len(tiff)))
	b.WriteString("Exif\x00\x00")
	b.Write(tiff)
	b.Write([]byte{0xFF, 0xDA})
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for b.Len() < size-2 {
		b.WriteByte(byte(r.Uint32()))
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// Key returns the lower-case hex SHA-256 of data: a photo's key.
func Key(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// NotAnImage returns size bytes that no image detector recognises.
func NotAnImage(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return b
}

// exifBlock is a little-endian TIFF block: IFD0 pointing to an Exif IFD
// (DateTimeOriginal) and a GPS IFD (latitude and longitude with refs).
func exifBlock() []byte {
	const ifd0, exifIFD, gpsIFD, data = 8, 38, 56, 110
	le := binary.LittleEndian
	b := make([]byte, data, data+68)
	copy(b, "II*\x00")
	le.PutUint32(b[4:], ifd0)
	entry := func(at, i int, tag, typ uint16, count, value uint32) {
		p := at + 2 + 12*i
		le.PutUint16(b[p:], tag)
		le.PutUint16(b[p+2:], typ)
		le.PutUint32(b[p+4:], count)
		le.PutUint32(b[p+8:], value)
	}
	le.PutUint16(b[ifd0:], 2)
	entry(ifd0, 0, 0x8769, 4, 1, exifIFD)
	entry(ifd0, 1, 0x8825, 4, 1, gpsIFD)
	le.PutUint16(b[exifIFD:], 1)
	entry(exifIFD, 0, 0x9003, 2, 20, data)
	le.PutUint16(b[gpsIFD:], 4)
	entry(gpsIFD, 0, 0x0001, 2, 2, uint32('N'))
	entry(gpsIFD, 1, 0x0002, 5, 3, data+20)
	entry(gpsIFD, 2, 0x0003, 2, 2, uint32('E'))
	entry(gpsIFD, 3, 0x0004, 5, 3, data+44)
	b = append(b, "2024:05:01 08:30:00\x00"...)
	b = appendDMS(b, Latitude)
	return appendDMS(b, Longitude)
}

// appendDMS appends a coordinate as three rationals: degrees, minutes and
// seconds in millionths.
func appendDMS(b []byte, deg float64) []byte {
	d := uint32(deg)
	minutes := (deg - float64(d)) * 60
	m := uint32(minutes)
	s := uint32((minutes-float64(m))*60*1e6 + 0.5)
	for _, v := range []uint32{d, 1, m, 1, s, 1e6} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}
