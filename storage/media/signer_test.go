package media_test

import (
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
)

const testKey = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func newSigner(t testing.TB, fill byte) *media.URLSigner {
	t.Helper()
	secret := make([]byte, media.MinSecretSize)
	for i := range secret {
		secret[i] = fill
	}
	s, err := media.NewURLSigner(secret)
	if err != nil {
		t.Fatalf("NewURLSigner: %v", err)
	}
	return s
}

// params splits a query string made by Sign.
func params(t *testing.T, q string) (exp, sig string) {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	return v.Get("exp"), v.Get("sig")
}

func TestSignedLinkVerifiesUntilExpiry(t *testing.T) {
	t.Parallel()
	s := newSigner(t, 1)
	now := time.Unix(1_800_000_000, 0)
	exp, sig := params(t, s.Sign(testKey, now.Add(time.Minute)))
	if err := s.Verify(testKey, exp, sig, now); err != nil {
		t.Errorf("Verify before expiry: %v", err)
	}
	if err := s.Verify(testKey, exp, sig, now.Add(time.Minute)); !errors.Is(err, media.ErrLinkExpired) {
		t.Errorf("Verify at expiry: err = %v, want ErrLinkExpired", err)
	}
}

func TestVerifyRejectsAlteredLinks(t *testing.T) {
	t.Parallel()
	s := newSigner(t, 1)
	now := time.Unix(1_800_000_000, 0)
	exp, sig := params(t, s.Sign(testKey, now.Add(time.Minute)))
	later := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	otherKey := "0" + testKey[1:]
	exp2, sig2 := params(t, newSigner(t, 2).Sign(testKey, now.Add(time.Minute)))
	tests := map[string][3]string{
		"other key":           {otherKey, exp, sig},
		"extended expiry":     {testKey, later, sig},
		"expiry with plus":    {testKey, "+" + exp, sig},
		"expiry with zero":    {testKey, "0" + exp, sig},
		"empty expiry":        {testKey, "", sig},
		"empty signature":     {testKey, exp, ""},
		"truncated signature": {testKey, exp, sig[:len(sig)-2]},
		"not base64":          {testKey, exp, "!!!"},
		"other secret":        {testKey, exp2, sig2},
	}
	for name, in := range tests {
		if err := s.Verify(in[0], in[1], in[2], now); !errors.Is(err, media.ErrSignatureInvalid) {
			t.Errorf("%s: err = %v, want ErrSignatureInvalid", name, err)
		}
	}
}

func TestNewURLSignerRejectsShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := media.NewURLSigner(make([]byte, media.MinSecretSize-1)); err == nil {
		t.Error("NewURLSigner accepted a short secret")
	}
}

func TestPathIsServedPrefixKeyAndQuery(t *testing.T) {
	t.Parallel()
	s := newSigner(t, 1)
	exp := time.Unix(1_800_000_000, 0)
	want := media.PathPrefix + testKey + "?" + s.Sign(testKey, exp)
	if got := s.Path(testKey, exp); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}
