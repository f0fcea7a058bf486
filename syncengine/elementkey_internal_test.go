package syncengine

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestElementKeyOfAStringIsItsFormattedValue: the key of a string element
// (read without boxing) is the one fmt.Sprint gave, so union merges keep
// telling the same elements apart.
func TestElementKeyOfAStringIsItsFormattedValue(t *testing.T) {
	fd := (&fieldsyncv1.Visit{}).ProtoReflect().Descriptor().Fields().ByName("action_tags")
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		t.Fatal("Visit.action_tags is no longer a string list")
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.String().Draw(t, "s")
		v := protoreflect.ValueOfString(s)
		got, err := elementKey(fd, v)
		if err != nil || got != fmt.Sprint(v.Interface()) {
			t.Fatalf("elementKey(%q) = %q, %v; want %q", s, got, err, fmt.Sprint(v.Interface()))
		}
	})
}
