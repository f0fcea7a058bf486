package imagecheck

import (
	"encoding/binary"
	"fmt"
)

// Limits on an item location.
const (
	maxExtents    = 16      // extents of the Exif item
	maxIlocFields = 1 << 16 // items plus extents walked in an iloc box
)

// location is where an item's bytes are: extents of the file (construction
// method 0) or of the meta box's idat (method 1).
type location struct {
	method  uint64
	extents []extent
}

type extent struct{ off, len uint64 }

// ilocHeader is the layout of an iloc box's entries.
type ilocHeader struct {
	version                                     uint64
	idSize, offSize, lenSize, baseSize, idxSize int
}

// itemLocation finds item id in an iloc box body (versions 0 to 2).
func itemLocation(iloc []byte, id uint32) (location, bool) {
	c := &cursor{b: iloc}
	h := ilocHeader{version: c.uint(1)}
	c.uint(3) // flags
	sizes := c.uint(2)
	h.offSize, h.lenSize, h.baseSize = int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15)
	h.idSize = 2
	switch h.version {
	case 1:
		h.idxSize = int(sizes & 15)
	case 2:
		h.idxSize, h.idSize = int(sizes&15), 4
	}
	count := c.uint(h.idSize)
	if h.version > 2 {
		return location{}, false
	}
	budget := maxIlocFields
	for i := uint64(0); i < count && !c.bad && budget > 0; i++ {
		itemID, loc := h.item(c, id, &budget)
		if itemID == uint64(id) {
			return loc, !c.bad && budget > 0 && len(loc.extents) > 0
		}
	}
	return location{}, false
}

// item reads one entry, keeping its extents only when it is item want.
// Each entry and extent spends one unit of budget.
func (h ilocHeader) item(c *cursor, want uint32, budget *int) (uint64, location) {
	var loc location
	itemID := c.uint(h.idSize)
	if h.version == 1 || h.version == 2 {
		loc.method = c.uint(2) & 15
	}
	c.uint(2) // data reference index
	base := c.uint(h.baseSize)
	n := c.uint(2)
	*budget--
	if itemID == uint64(want) && n > maxExtents {
		return itemID, location{} // more pieces than an Exif block needs
	}
	for i := uint64(0); i < n && !c.bad && *budget > 0; i++ {
		*budget--
		c.uint(h.idxSize)
		e := extent{off: c.uint(h.offSize) + base, len: c.uint(h.lenSize)}
		if itemID == uint64(want) {
			loc.extents = append(loc.extents, e)
		}
	}
	return itemID, loc
}

// read returns the item's bytes from the file or from idat, or nil when its
// construction method is not read here or an extent of a whole file
// (length 0) would be needed.
func (l location) read(src source, idat []byte) ([]byte, error) {
	var out []byte
	for _, e := range l.extents {
		if e.len == 0 || e.len > maxExifSize || uint64(len(out))+e.len > maxExifSize {
			return nil, fmt.Errorf("%w: Exif item extent of %d bytes", ErrMalformed, e.len)
		}
		switch l.method {
		case 0:
			if e.off > uint64(src.size) {
				return nil, fmt.Errorf("%w: Exif item past the end", ErrMalformed)
			}
			b, err := src.read(int64(e.off), int64(e.len))
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		case 1:
			if e.off > uint64(len(idat)) || e.len > uint64(len(idat))-e.off {
				return nil, fmt.Errorf("%w: Exif item past the end of idat", ErrMalformed)
			}
			out = append(out, idat[e.off:e.off+e.len]...)
		default:
			return nil, nil
		}
	}
	return out, nil
}

// cursor reads big-endian fields from a byte slice; reading past the end
// sets bad and yields zeros from then on.
type cursor struct {
	b   []byte
	bad bool
}

// uint reads an n-byte unsigned integer, n in 0, 1, 2, 3, 4 or 8.
func (c *cursor) uint(n int) uint64 {
	b := c.bytes(n)
	if b == nil {
		return 0
	}
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 3:
		return uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	c.bad = c.bad || n != 0
	return 0
}

// bytes returns the next n bytes, or nil when fewer remain.
func (c *cursor) bytes(n int) []byte {
	if c.bad || n < 0 || n > len(c.b) {
		c.bad = true
		return nil
	}
	b := c.b[:n:n]
	c.b = c.b[n:]
	return b
}
