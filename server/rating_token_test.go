package server

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

var testSecret = bytes.Repeat([]byte{7}, 32)

func TestOpenRatingToken(t *testing.T) {
	good := newRatingToken(testSecret)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	if id, ok := openRatingToken(testSecret, good); !ok || !bytes.Equal(id, raw[:ratingTokenIDBytes]) {
		t.Fatalf("good token: %x %v", id, ok)
	}
	for name, tok := range map[string]string{
		"forged signature":  flip(len(raw) - 1),
		"other id":          flip(0),
		"other secret":      newRatingToken(bytes.Repeat([]byte{8}, 32)),
		"short":             good[:ratingTokenLen-1],
		"long":              good + "A",
		"not base64":        good[:ratingTokenLen-1] + "!",
		"standard alphabet": good[:ratingTokenLen-1] + "+",
		"empty":             "",
	} {
		if _, ok := openRatingToken(testSecret, tok); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzOpenRatingToken: the decoder never panics, and accepts only the one
// canonical encoding of an id signed with the secret.
func FuzzOpenRatingToken(f *testing.F) {
	f.Add(newRatingToken(testSecret))
	f.Add(newRatingToken(nil))
	f.Add(strings.Repeat("A", ratingTokenLen))
	f.Add(strings.Repeat("=", ratingTokenLen))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		id, ok := openRatingToken(testSecret, tok)
		if !ok {
			return
		}
		if len(id) != ratingTokenIDBytes {
			t.Fatalf("id of %d bytes", len(id))
		}
		if again := base64.RawURLEncoding.EncodeToString(append(bytes.Clone(id), ratingMAC(testSecret, id)...)); again != tok {
			t.Fatalf("accepted %q, the canonical token is %q", tok, again)
		}
	})
}
