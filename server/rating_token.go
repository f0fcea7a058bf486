package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/fieldsync/fieldsync/records"
)

// A rating token is base64url (no padding) of a 16-byte random id followed
// by the HMAC-SHA256 of the id under the server's rating secret: 64
// characters, unguessable, and checked before the database is asked.
const (
	ratingTokenIDBytes = 16
	ratingTokenLen     = 64 // base64url of 16 + 32 bytes
)

// ratingMACLabel separates rating tokens from anything else the secret
// might ever sign.
const ratingMACLabel = "fieldsync rating token v1\x00"

func ratingMAC(secret, id []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ratingMACLabel))
	m.Write(id)
	return m.Sum(nil)
}

// newRatingToken returns a fresh token signed with secret.
func newRatingToken(secret []byte) string {
	id := make([]byte, ratingTokenIDBytes)
	rand.Read(id)
	return base64.RawURLEncoding.EncodeToString(append(id, ratingMAC(secret, id)...))
}

// openRatingToken checks a token's form and signature and returns its id;
// ok is false for anything else, whatever is wrong with it. The signature
// is compared in constant time.
func openRatingToken(secret []byte, token string) (id []byte, ok bool) {
	if len(token) != ratingTokenLen {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != ratingTokenIDBytes+sha256.Size {
		return nil, false
	}
	id, mac := raw[:ratingTokenIDBytes], raw[ratingTokenIDBytes:]
	if !hmac.Equal(mac, ratingMAC(secret, id)) {
		return nil, false
	}
	return id, true
}

// ratingTokenHash is what the database keeps of a token.
func ratingTokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// RatingRecordID is the id of the SatisfactionRating record a rating token
// writes: the same token always names the same record, so a retried
// submission cannot make two. It carries the prefix reserved for records
// the server creates (records.ReservedID), so no device can take the id
// first or edit the customer's rating.
func RatingRecordID(tenantID string, tokenID []byte) string {
	h := sha256.New()
	h.Write([]byte("rating\x00" + tenantID + "\x00"))
	h.Write(tokenID)
	return records.ServerIDPrefix + "rating-" + hex.EncodeToString(h.Sum(nil)[:16])
}
