package imagecheck

import (
	"encoding/binary"
	"fmt"
)

// heifExif returns the TIFF data of the Exif item of a HEIF file, found
// through the meta box: iinf names the item, iloc says where its bytes are
// (in the file or in the meta box's idat). It returns nil when there is no
// Exif item or it is stored in a way not read here.
func heifExif(src source) ([]byte, error) {
	meta, err := findMeta(src)
	if err != nil || meta == nil {
		return nil, err
	}
	if len(meta) < 4 {
		return nil, fmt.Errorf("%w: short meta box", ErrMalformed)
	}
	children := childBoxes(meta[4:]) // meta is a full box: skip version and flags
	id, ok := exifItemID(children["iinf"])
	if !ok {
		return nil, nil
	}
	loc, ok := itemLocation(children["iloc"], id)
	if !ok {
		return nil, nil
	}
	payload, err := loc.read(src, children["idat"])
	if err != nil || payload == nil {
		return nil, err
	}
	// The item starts with the offset of the TIFF header past this field.
	if len(payload) < 4 {
		return nil, nil
	}
	skip := uint64(binary.BigEndian.Uint32(payload))
	if skip > uint64(len(payload)-4) {
		return nil, nil
	}
	return payload[4+skip:], nil
}

// findMeta returns the body of the top-level meta box, or nil.
func findMeta(src source) ([]byte, error) {
	off := int64(0)
	for range maxSegments {
		if off >= src.size {
			return nil, nil
		}
		hdr, err := src.read(off, min(16, src.size-off))
		if err != nil {
			return nil, err
		}
		size, hlen, ok := boxSize(hdr, uint64(src.size-off))
		if !ok {
			return nil, fmt.Errorf("%w: box at %d", ErrMalformed, off)
		}
		if string(hdr[4:8]) == "meta" {
			if size-hlen > maxMetaBox {
				return nil, fmt.Errorf("%w: meta box of %d bytes", ErrMalformed, size)
			}
			return src.read(off+int64(hlen), int64(size-hlen))
		}
		off += int64(size)
	}
	return nil, nil
}

// boxSize reads an ISO-BMFF box header from b (at least 8 bytes; 16 for a
// 64-bit size) where room bytes remain in the parent. It returns the box's
// whole size and its header's length; ok is false when they do not fit.
func boxSize(b []byte, room uint64) (size, hlen uint64, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	size, hlen = uint64(binary.BigEndian.Uint32(b)), 8
	switch size {
	case 0: // to the end of the parent
		size = room
	case 1:
		if len(b) < 16 {
			return 0, 0, false
		}
		size, hlen = binary.BigEndian.Uint64(b[8:16]), 16
	}
	return size, hlen, size >= hlen && size <= room
}

// childBoxes returns the bodies of the boxes in b by type, first of each
// type only; it stops at the first box that does not fit.
func childBoxes(b []byte) map[string][]byte {
	out := make(map[string][]byte)
	for range maxSegments {
		size, hlen, ok := boxSize(b, uint64(len(b)))
		if !ok {
			break
		}
		typ := string(b[4:8])
		if _, seen := out[typ]; !seen {
			out[typ] = b[hlen:size]
		}
		b = b[size:]
	}
	return out
}

// exifItemID returns the ID of the item of type "Exif" listed in an iinf
// box body.
func exifItemID(iinf []byte) (uint32, bool) {
	if len(iinf) < 4 {
		return 0, false
	}
	skip := 4 + 2 // version and flags, 16-bit entry count
	if iinf[0] != 0 {
		skip = 4 + 4
	}
	if len(iinf) < skip {
		return 0, false
	}
	b := iinf[skip:]
	for range maxSegments {
		size, hlen, ok := boxSize(b, uint64(len(b)))
		if !ok {
			break
		}
		if string(b[4:8]) == "infe" {
			if id, ok := infeExifID(b[hlen:size]); ok {
				return id, true
			}
		}
		b = b[size:]
	}
	return 0, false
}

// infeExifID returns the item ID of an item info entry (version 2 or 3)
// whose type is "Exif".
func infeExifID(b []byte) (uint32, bool) {
	c := cursor{b: b}
	version := c.uint(1)
	c.uint(3) // flags
	var id uint64
	switch version {
	case 2:
		id = c.uint(2)
	case 3:
		id = c.uint(4)
	default:
		return 0, false
	}
	c.uint(2) // protection index
	typ := c.bytes(4)
	return uint32(id), !c.bad && string(typ) == "Exif"
}
