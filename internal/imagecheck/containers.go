package imagecheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

var exifHeader = []byte("Exif\x00\x00")

// jpegExif returns the TIFF data of the first Exif APP1 segment, or nil
// when the image data starts without one.
func jpegExif(src source) ([]byte, error) {
	head, err := src.read(0, 2)
	if err != nil {
		return nil, err
	}
	if head[0] != 0xFF || head[1] != 0xD8 {
		return nil, fmt.Errorf("%w: no JPEG start of image", ErrMalformed)
	}
	off := int64(2)
	for range maxSegments {
		marker, length, err := jpegMarker(src, off)
		switch {
		case err != nil:
			return nil, err
		case marker == 0xDA || marker == 0xD9: // image data or end: EXIF comes before
			return nil, nil
		case marker == 0xE1 && length >= 4+int64(len(exifHeader)):
			seg, err := src.read(off+4, length-4)
			if err != nil {
				return nil, err
			}
			if bytes.HasPrefix(seg, exifHeader) {
				return seg[len(exifHeader):], nil
			}
		}
		off += length
	}
	return nil, nil
}

// jpegMarker reads the marker at off and returns it with the number of
// bytes up to the next one: 1 for a fill byte, 2 for a marker without a
// segment, else 2 plus the segment's length.
func jpegMarker(src source, off int64) (marker byte, length int64, err error) {
	m, err := src.read(off, 2)
	if err != nil {
		return 0, 0, err
	}
	if m[0] != 0xFF {
		return 0, 0, fmt.Errorf("%w: no JPEG marker at %d", ErrMalformed, off)
	}
	switch marker = m[1]; {
	case marker == 0xFF:
		return marker, 1, nil
	case marker == 0x01 || marker >= 0xD0 && marker <= 0xD9 || marker == 0xDA:
		return marker, 2, nil
	}
	l, err := src.read(off+2, 2)
	if err != nil {
		return 0, 0, err
	}
	n := int64(binary.BigEndian.Uint16(l))
	if n < 2 {
		return 0, 0, fmt.Errorf("%w: JPEG segment length %d", ErrMalformed, n)
	}
	return marker, 2 + n, nil
}

// pngExif returns the contents of the eXIf chunk, or nil when there is none.
func pngExif(src source) ([]byte, error) {
	sig, err := src.read(0, int64(len(pngSignature)))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(sig, pngSignature) {
		return nil, fmt.Errorf("%w: no PNG signature", ErrMalformed)
	}
	off := int64(len(pngSignature))
	for range maxSegments {
		hdr, err := src.read(off, 8)
		if err != nil {
			return nil, err
		}
		n := int64(binary.BigEndian.Uint32(hdr))
		if n > 1<<31-1 {
			return nil, fmt.Errorf("%w: PNG chunk length %d", ErrMalformed, n)
		}
		switch string(hdr[4:8]) {
		case "eXIf":
			return readExifBlock(src, off+8, n)
		case "IEND":
			return nil, nil
		}
		off += 12 + n // length, type, data, CRC
	}
	return nil, nil
}

// webpExif returns the contents of the EXIF chunk, or nil when there is none.
func webpExif(src source) ([]byte, error) {
	hdr, err := src.read(0, 12)
	if err != nil {
		return nil, err
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WEBP" {
		return nil, fmt.Errorf("%w: no RIFF WEBP header", ErrMalformed)
	}
	end := min(8+int64(binary.LittleEndian.Uint32(hdr[4:8])), src.size)
	off := int64(12)
	for range maxSegments {
		if off+8 > end {
			return nil, nil
		}
		ch, err := src.read(off, 8)
		if err != nil {
			return nil, err
		}
		n := int64(binary.LittleEndian.Uint32(ch[4:8]))
		if string(ch[0:4]) == "EXIF" {
			return readExifBlock(src, off+8, n)
		}
		off += 8 + n + n&1 // chunks are padded to even sizes
	}
	return nil, nil
}

// readExifBlock reads an EXIF block of n bytes at off, dropping the
// "Exif\0\0" prefix some writers put where it does not belong.
func readExifBlock(src source, off, n int64) ([]byte, error) {
	if n > maxExifSize {
		return nil, fmt.Errorf("%w: EXIF block of %d bytes", ErrMalformed, n)
	}
	b, err := src.read(off, n)
	if err != nil {
		return nil, err
	}
	return bytes.TrimPrefix(b, exifHeader), nil
}
