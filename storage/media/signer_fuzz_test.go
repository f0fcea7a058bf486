package media_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify: the exp and sig of a /media/ link come from anyone's URL.
// Any values verify without panicking, and only the ones Sign made for
// this key and a time still ahead pass.
func FuzzVerify(f *testing.F) {
	s := newSigner(f, 7)
	now := time.Unix(1_800_000_000, 0)
	q, err := url.ParseQuery(s.Sign(testKey, now.Add(time.Minute)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testKey, q.Get("exp"), q.Get("sig"))
	f.Add(testKey, "01800000060", q.Get("sig"))
	f.Add(testKey, "-1", "")
	f.Add(testKey, "9223372036854775807", "AAAA")
	f.Add("../../etc/passwd", q.Get("exp"), q.Get("sig"))
	f.Add("", "", "%%%")
	f.Fuzz(func(t *testing.T, key, exp, sig string) {
		if s.Verify(key, exp, sig, now) != nil {
			return
		}
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n <= now.Unix() {
			t.Fatalf("key %q: exp %q verified at %d", key, exp, now.Unix())
		}
		want, err := url.ParseQuery(s.Sign(key, time.Unix(n, 0)))
		if err != nil || want.Get("exp") != exp || want.Get("sig") != sig {
			t.Fatalf("key %q, exp %q: sig %q verified, Sign makes %v", key, exp, sig, want)
		}
	})
}
