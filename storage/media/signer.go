package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// MinSecretSize is the shortest secret NewURLSigner accepts, in bytes.
const MinSecretSize = 32

var (
	// ErrSignatureInvalid means a link's signature does not match its key
	// and expiry: it was forged, altered or signed with another secret.
	ErrSignatureInvalid = errors.New("media: invalid link signature")
	// ErrLinkExpired means a correctly signed link is past its expiry.
	ErrLinkExpired = errors.New("media: link expired")
)

// URLSigner signs and checks the short-lived links NewHandler serves, for
// stores that cannot presign their own URLs. A link is valid for one key
// until its expiry; the signature is HMAC-SHA256 under a server secret.
// A URLSigner is safe for concurrent use.
type URLSigner struct {
	secret []byte
}

// NewURLSigner returns a signer keyed with secret, which must hold at least
// MinSecretSize random bytes and stay the same across servers and restarts
// for links to outlive them. The secret is copied.
func NewURLSigner(secret []byte) (*URLSigner, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("url signer: secret has %d bytes, want at least %d", len(secret), MinSecretSize)
	}
	return &URLSigner{secret: append([]byte(nil), secret...)}, nil
}

// Sign returns the query string "exp=<unix seconds>&sig=<signature>" that
// makes a link to key valid until expires (second precision).
func (s *URLSigner) Sign(key string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	sig := base64.RawURLEncoding.EncodeToString(s.mac(key, exp))
	q := url.Values{"exp": {exp}, "sig": {sig}}
	return q.Encode()
}

// Path returns the path and query of a signed link to key as NewHandler
// serves it: "/media/<key>?exp=…&sig=…". Prefix it with the server's origin.
func (s *URLSigner) Path(key string, expires time.Time) string {
	return PathPrefix + key + "?" + s.Sign(key, expires)
}

// Verify checks the exp and sig parameters of a link to key at time now. It
// returns ErrSignatureInvalid when they were not made by Sign with this
// secret for this key, and ErrLinkExpired when now is at or after exp. The
// signature comparison takes constant time.
func (s *URLSigner) Verify(key, exp, sig string, now time.Time) error {
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != exp {
		return fmt.Errorf("%w: malformed expiry", ErrSignatureInvalid)
	}
	// Strict: the last character's unused bits must be zero, so one link has
	// one spelling (a lenient decoder let four sig strings pass for each).
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: malformed signature", ErrSignatureInvalid)
	}
	if !hmac.Equal(got, s.mac(key, exp)) {
		return ErrSignatureInvalid
	}
	if !now.Before(time.Unix(unix, 0)) {
		return ErrLinkExpired
	}
	return nil
}

// mac returns the HMAC of a key and its canonical expiry. The
// label keeps these MACs apart from any other use of the same secret.
func (s *URLSigner) mac(key, exp string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("fieldsync/media-link/v1\x00"))
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(exp))
	return m.Sum(nil)
}
