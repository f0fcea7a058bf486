package syncengine

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"strconv"
)

// cursor is what a Pull cursor encodes: the last version the device has
// seen, and a hash of the scope it was minted for.
type cursor struct {
	version uint64
	scope   uint64
}

const cursorMagic = 'c'

func (c cursor) encode() string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+8)
	b = append(b, cursorMagic)
	b = binary.AppendUvarint(b, c.version)
	b = binary.BigEndian.AppendUint64(b, c.scope)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses an opaque cursor. Errors are CodeInvalid.
func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 10 || b[0] != cursorMagic {
		return cursor{}, Errorf(CodeInvalid, "cursor: malformed; send the next_cursor of a previous Pull, or none to start over")
	}
	v, n := binary.Uvarint(b[1:])
	if n <= 0 || len(b) != 1+n+8 {
		return cursor{}, Errorf(CodeInvalid, "cursor: malformed; send the next_cursor of a previous Pull, or none to start over")
	}
	return cursor{version: v, scope: binary.BigEndian.Uint64(b[1+n:])}, nil
}

// scopeHash identifies the set of records a filter selects, so a cursor
// minted for one scope is not used for another.
func scopeHash(f Filter) uint64 {
	h := fnv.New64a()
	for _, s := range []string{f.TenantID, strconv.FormatBool(f.All), strconv.FormatBool(f.SharedAll), f.OwnerID, f.StoreID, f.RegionID, f.SharedRegionID, f.ReaderRole.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}
