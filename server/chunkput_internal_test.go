package server

import (
	"net/http"
	"strconv"
	"testing"

	"connectrpc.com/connect"
)

// FuzzChunkPutRequest feeds parseChunkPut arbitrary request lines and
// headers: it never panics, refuses with InvalidArgument only, and what
// it accepts is a chunk PutChunk could take (1 byte to MaxChunkBytes, an
// offset from 0, the CRC32C and offset spelled in plain decimal).
func FuzzChunkPutRequest(f *testing.F) {
	f.Add("01J0", "offset=0", "123", int64(100), false)
	f.Add("01J0", "offset=5&x=1", "4294967295", int64(MaxChunkBytes), false)
	f.Add("01J0", "offset=1&offset=2", "1", int64(1), true)
	f.Add("", "offset=%zz", "", int64(-1), false)
	f.Add("x", "offset=+1", "-1", int64(MaxChunkBytes+1), false)
	f.Fuzz(func(t *testing.T, id, query, crc string, length int64, twoCRCs bool) {
		crcs := []string{crc}
		if twoCRCs {
			crcs = append(crcs, crc)
		}
		req, status, err := parseChunkPut(id, query, crcs, length)
		if err != nil {
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("refused with %v", err)
			}
			if (status == http.StatusLengthRequired) != (length < 0) || (status != 0 && status != http.StatusLengthRequired) {
				t.Fatalf("length %d: status %d", length, status)
			}
			return
		}
		if twoCRCs || req.id != id || id == "" || req.size != length || length < 1 || length > MaxChunkBytes || req.offset < 0 {
			t.Fatalf("accepted %+v from id %q, length %d, two CRCs %v", req, id, length, twoCRCs)
		}
		if strconv.FormatUint(uint64(req.crc32c), 10) != trimZeros(crc) {
			t.Fatalf("CRC32C %d from %q", req.crc32c, crc)
		}
	})
}

// trimZeros drops leading zeros of a decimal number ("0" stays).
func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
