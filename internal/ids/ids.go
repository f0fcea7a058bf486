// Package ids makes identifiers and secrets: time-ordered ULIDs for rows
// and random bearer tokens stored only as hashes.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// crockford is the ULID alphabet.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// New returns a ULID: 48 bits of Unix milliseconds then 80 random bits, as
// 26 upper-case Crockford base32 characters that sort by creation time.
func New() string { return NewAt(time.Now()) }

// NewAt returns a ULID for the given time.
func NewAt(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	rand.Read(b[6:])
	// 128 bits → 26 base32 chars; the encoder works on 5-byte groups, so
	// encode 20 bytes (4 zero bytes of padding in front) and drop the 6 leading chars.
	var padded [20]byte
	copy(padded[4:], b[:])
	s := crockford.EncodeToString(padded[:])
	return s[6:]
}

// Token returns a random bearer token with a readable prefix ("fsd" for
// device tokens, "fsk" for API keys, "fse" for enrollment codes).
func Token(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + "_" + strings.ToLower(crockford.EncodeToString(b[:]))
}

// Hash returns the SHA-256 of a token: tokens carry 256 random bits, so a
// fast hash is enough to make a stolen database useless for logging in.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
