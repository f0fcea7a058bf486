package server

import (
	"errors"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// fullCheck is the validation without the Go-side field-mask check: every
// rule evaluated by protovalidate, as before it was added.
func fullCheck(t interface{ Helper() }, v protovalidate.Validator, req *fieldsyncv1.PushRequest) string {
	t.Helper()
	if err := v.Validate(req); err != nil {
		return syncengine.ViolationMessage(err)
	}
	return ""
}

func checkMessage(t interface {
	Helper()
	Fatalf(string, ...any)
}, vi *validateInterceptor, req *fieldsyncv1.PushRequest) string {
	t.Helper()
	err := vi.check(req)
	if err == nil {
		return ""
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("check: %v, want an InvalidArgument connect error", err)
	}
	return ce.Message()
}

func TestPushFieldMaskLimits(t *testing.T) {
	vi, err := newValidateInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	mut := func(paths ...string) *fieldsyncv1.Mutation {
		return &fieldsyncv1.Mutation{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: "r1", Hlc: 1,
			FieldMask: &fieldmaskpb.FieldMask{Paths: paths}}
	}
	many := func(n int) []string { return slicesRepeat("notes", n) }
	const msg = "mutations[1].field_mask: at most 256 paths of at most 256 bytes each"
	for _, tc := range []struct {
		name string
		muts []*fieldsyncv1.Mutation
		want string
	}{
		{"256 paths", []*fieldsyncv1.Mutation{mut("kind"), mut(many(256)...)}, ""},
		{"257 paths", []*fieldsyncv1.Mutation{mut("kind"), mut(many(257)...)}, msg},
		{"a path of 256 bytes", []*fieldsyncv1.Mutation{mut("kind"), mut(strings.Repeat("a", 256))}, ""},
		{"a path of 257 bytes", []*fieldsyncv1.Mutation{mut("kind"), mut("kind", strings.Repeat("a", 257))}, msg},
		{"257 bytes in 86 runes", []*fieldsyncv1.Mutation{mut("kind"), mut(strings.Repeat("é", 128) + "a")}, msg},
		{"no mask", []*fieldsyncv1.Mutation{mut("kind"), {Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: "r1", Hlc: 1}}, ""},
		{"with another violation", []*fieldsyncv1.Mutation{mut("kind"), {Seq: 0, RecordType: "fieldsync.v1.Visit", RecordId: "r1", Hlc: 1,
			FieldMask: &fieldmaskpb.FieldMask{Paths: many(300)}}}, "mutations[1].seq: must be greater than 0; " + msg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &fieldsyncv1.PushRequest{Mutations: tc.muts}
			if got := checkMessage(t, vi, req); got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
			if got := fullCheck(t, vi.v, req); got != tc.want {
				t.Errorf("protovalidate alone: %q, want %q", got, tc.want)
			}
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestPushValidationSameAsProtovalidate: for any push request, the
// interceptor answers exactly what protovalidate evaluating every rule
// (the field-mask CEL rule included) answers.
func TestPushValidationSameAsProtovalidate(t *testing.T) {
	vi, err := newValidateInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(t *rapid.T) {
		req := &fieldsyncv1.PushRequest{}
		for range rapid.IntRange(0, 4).Draw(t, "mutations") {
			m := &fieldsyncv1.Mutation{
				Seq:        rapid.Uint64Range(0, 3).Draw(t, "seq"),
				RecordType: rapid.SampledFrom([]string{"", "fieldsync.v1.Visit"}).Draw(t, "type"),
				RecordId:   rapid.SampledFrom([]string{"", "r1", "bad id"}).Draw(t, "id"),
				Hlc:        rapid.Uint64Range(0, 2).Draw(t, "hlc"),
			}
			if rapid.Bool().Draw(t, "mask") {
				m.FieldMask = &fieldmaskpb.FieldMask{}
				n := rapid.SampledFrom([]int{0, 1, 3, 255, 256, 257, 300}).Draw(t, "paths")
				long := rapid.IntRange(-1, n-1).Draw(t, "long path")
				for i := range n {
					p := "notes"
					if i == long {
						p = strings.Repeat(rapid.SampledFrom([]string{"a", "é"}).Draw(t, "rune"), rapid.IntRange(120, 260).Draw(t, "len"))
					}
					m.FieldMask.Paths = append(m.FieldMask.Paths, p)
				}
			}
			req.Mutations = append(req.Mutations, m)
		}
		if got, want := checkMessage(t, vi, req), fullCheck(t, vi.v, req); got != want {
			t.Fatalf("interceptor: %q\nprotovalidate: %q", got, want)
		}
	})
}

// BenchmarkValidatePush validates a push of 100 visits' mutations, as the
// interceptor does and with every rule evaluated by protovalidate.
func BenchmarkValidatePush(b *testing.B) {
	vi, err := newValidateInterceptor()
	if err != nil {
		b.Fatal(err)
	}
	req := &fieldsyncv1.PushRequest{}
	for i := range 100 {
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{Seq: uint64(i + 1), RecordType: "fieldsync.v1.Visit",
			RecordId: "01JCZ7Y1T5Q8F3M2N6P4R9S0VW", Hlc: 1 << 20,
			FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"kind", "customer_id", "notes", "action_tags"}}})
	}
	b.Run("interceptor", func(b *testing.B) {
		for b.Loop() {
			if err := vi.check(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protovalidate", func(b *testing.B) {
		for b.Loop() {
			if err := vi.v.Validate(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
