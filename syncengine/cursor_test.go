package syncengine

import (
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []cursor{{0, 0}, {1, 42}, {1 << 40, ^uint64(0)}} {
		got, err := decodeCursor(c.encode())
		if err != nil || got != c {
			t.Fatalf("decode(encode(%v)) = %v, %v", c, got, err)
		}
	}
}

func TestMalformedCursorsAreInvalid(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"x", "!!!", cursor{5, 6}.encode() + "A", "YQ"} {
		if _, err := decodeCursor(s); !IsCode(err, CodeInvalid) {
			t.Errorf("decodeCursor(%q) = %v, want CodeInvalid", s, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{7, 99}.encode())
	f.Add("")
	f.Add("Y2FmZQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if !IsCode(err, CodeInvalid) {
				t.Fatalf("error %v is not CodeInvalid", err)
			}
			return
		}
		if again, err := decodeCursor(c.encode()); err != nil || again != c {
			t.Fatalf("re-encoding %v gives %v, %v", c, again, err)
		}
	})
}
