package wirecost_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/wirecost"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"pgregory.net/rapid"
)

// repeatField is n occurrences of field num holding an empty message (or
// an empty string).
func repeatField(num protowire.Number, n int) []byte {
	var b []byte
	for range n {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, nil)
	}
	return b
}

// allocated is what decoding b into m allocates.
func allocated(b []byte, m proto.Message) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_ = proto.Unmarshal(b, m)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func bound(b []byte) uint64 { return uint64(wirecost.PerByte*len(b) + wirecost.Slack) }

func TestRefusesMessagesOfManySmallElements(t *testing.T) {
	mask := func(paths int) []byte { // a Mutation whose field mask (5) names paths empty paths
		return protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), repeatField(1, paths))
	}
	var masks []byte
	for range 500 {
		masks = append(protowire.AppendTag(masks, 1, protowire.BytesType), protowire.AppendBytes(nil, mask(2000))...)
	}
	for _, c := range []struct {
		name  string
		m     proto.Message
		b     []byte
		field string
	}{
		{"2 MiB of empty mutations", &fieldsyncv1.PushRequest{}, repeatField(1, 1<<20), "fieldsync.v1.PushRequest.mutations"},
		{"2 MiB of empty photo references in a record", &fieldsyncv1.Diagnosis{}, repeatField(10, 1<<20), "fieldsync.v1.Diagnosis.photos"},
		{"2 MiB of empty work items in a record", &fieldsyncv1.Diagnosis{}, repeatField(9, 1<<20), "fieldsync.v1.Diagnosis.suggested_work_items"},
		{"500 mutations naming 2,000 empty paths each", &fieldsyncv1.PushRequest{}, masks, "google.protobuf.FieldMask.paths"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := wirecost.Proto(c.m.ProtoReflect().Descriptor(), c.b)
			if !errors.Is(err, wirecost.ErrTooCostly) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Proto = %v, want ErrTooCostly naming %s", err, c.field)
			}
			// What the refusal saves: decoding it costs more than the bound.
			if got := allocated(c.b, c.m); got < bound(c.b) {
				t.Fatalf("decoding allocates %d bytes, the bound is %d: the case shows nothing", got, bound(c.b))
			}
		})
	}
}

func TestRefusesJSONOfManySmallElements(t *testing.T) {
	for _, c := range []struct{ name, json string }{
		{"empty mutations", `{"mutations":[` + strings.Repeat(`{},`, 3<<20) + `{}]}`},
		{"nested empty arrays of objects", `{"a":[` + strings.Repeat(`[{}],`, 2<<20) + `[]]}`},
		{"empty strings in a list", `{"relatedRecordIds":[` + strings.Repeat(`"",`, 3<<20) + `""]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := wirecost.JSON([]byte(c.json)); !errors.Is(err, wirecost.ErrTooCostly) {
				t.Fatalf("JSON = %v, want ErrTooCostly", err)
			}
		})
	}
	m := &fieldsyncv1.PushRequest{}
	b := []byte(`{"mutations":[` + strings.Repeat(`{},`, 1<<18) + `{}]}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_ = protojson.Unmarshal(b, m)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got < bound(b) {
		t.Fatalf("decoding empty objects allocates %d bytes, the bound is %d: the cases show nothing", got, bound(b))
	}
}

// message draws a message of md: each field set or not, lists of up to
// maxItems elements, strings of up to 40 characters, nesting up to depth.
func message(t *rapid.T, md protoreflect.MessageDescriptor, maxItems, depth int) proto.Message {
	mt, err := protoregistryType(md)
	if err != nil {
		t.Skip(err)
	}
	m := mt.New()
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.ContainingOneof() != nil && m.WhichOneof(f.ContainingOneof()) != nil {
			continue
		}
		if f.IsMap() || (f.Message() != nil && depth == 0) || !rapid.Bool().Draw(t, string(f.Name())) {
			continue
		}
		if !f.IsList() {
			m.Set(f, value(t, m, f, maxItems, depth))
			continue
		}
		l := m.Mutable(f).List()
		for range rapid.IntRange(0, maxItems).Draw(t, string(f.Name())+" items") {
			if f.Message() != nil {
				l.Append(protoreflect.ValueOfMessage(message(t, f.Message(), maxItems, depth-1).ProtoReflect()))
			} else {
				l.Append(value(t, m, f, maxItems, depth))
			}
		}
	}
	return m.Interface()
}

func value(t *rapid.T, m protoreflect.Message, f protoreflect.FieldDescriptor, maxItems, depth int) protoreflect.Value {
	switch f.Kind() {
	case protoreflect.MessageKind:
		return protoreflect.ValueOfMessage(message(t, f.Message(), maxItems, depth-1).ProtoReflect())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(rapid.StringN(0, 40, -1).Draw(t, "s"))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "b"))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rapid.Bool().Draw(t, "bool"))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(rapid.IntRange(0, 5).Draw(t, "enum")))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(rapid.Float64().Draw(t, "f64"))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(rapid.Float32().Draw(t, "f32"))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(rapid.Int64().Draw(t, "i64"))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(rapid.Uint64().Draw(t, "u64"))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(rapid.Uint32().Draw(t, "u32"))
	default:
		return protoreflect.ValueOfInt32(rapid.Int32().Draw(t, "i32"))
	}
}

// types are the messages a client sends: every request and record type.
func types() []protoreflect.MessageDescriptor {
	return []protoreflect.MessageDescriptor{
		(&fieldsyncv1.PushRequest{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.PullRequest{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Mutation{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Visit{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.SurgerySupport{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Diagnosis{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Quote{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Alert{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.Customer{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.UpsertStockRequest{}).ProtoReflect().Descriptor(),
		(&fieldsyncv1.ImportHistoryRequest{}).ProtoReflect().Descriptor(),
	}
}

func TestAcceptsMessagesOfOrdinaryElements(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		md := rapid.SampledFrom(types()).Draw(t, "type")
		m := message(t, md, 8, 3)
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := wirecost.Proto(md, b); err != nil {
			t.Fatalf("Proto refused %d bytes of an ordinary %s: %v", len(b), md.FullName(), err)
		}
		j, err := protojson.Marshal(m)
		if err != nil {
			return // not every drawn message has a JSON form (a field mask's empty path)
		}
		if err := wirecost.JSON(j); err != nil {
			t.Fatalf("JSON refused %d bytes of an ordinary %s: %v", len(j), md.FullName(), err)
		}
	})
}

// Whatever Proto accepts decodes within twice its bound (a slice's
// regrowth is the factor the estimate leaves out): drawn messages of
// many empty or small elements, the shape that costs the most per byte.
func TestAcceptedMessagesDecodeWithinTheBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		md := rapid.SampledFrom(types()).Draw(t, "type")
		var b []byte
		for range rapid.IntRange(1, 4).Draw(t, "runs") {
			f := rapid.SampledFrom(listFields(md)).Draw(t, "field")
			n := rapid.IntRange(0, 40000).Draw(t, "n")
			b = append(b, repeatField(f.Number(), n)...)
		}
		if wirecost.Proto(md, b) != nil {
			return
		}
		mt, _ := protoregistryType(md)
		if got := allocated(b, mt.New().Interface()); got > 2*bound(b) {
			t.Fatalf("accepted %d bytes that decode into %d, more than twice the bound %d", len(b), got, bound(b))
		}
	})
}

// listFields are md's repeated fields of messages or strings.
func listFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	var out []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.IsList() && (f.Message() != nil || f.Kind() == protoreflect.StringKind || f.Kind() == protoreflect.BytesKind) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return []protoreflect.FieldDescriptor{md.Fields().Get(0)}
	}
	return out
}

func TestAcceptsARealPush(t *testing.T) {
	visit, _ := anypb.New(&fieldsyncv1.Visit{Notes: strings.Repeat("a note of a visit ", 20)})
	req := &fieldsyncv1.PushRequest{}
	for i := range 500 {
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{
			Seq: uint64(i + 1), RecordId: "01JD0000000000000000000000", RecordType: "fieldsync.v1.Visit",
			FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "customer_id", "visited_at", "outcome"}}, Value: visit,
		})
	}
	b, _ := proto.Marshal(req)
	if err := wirecost.Proto(req.ProtoReflect().Descriptor(), b); err != nil {
		t.Fatal(err)
	}
	j, _ := protojson.Marshal(req)
	if err := wirecost.JSON(j); err != nil {
		t.Fatal(err)
	}
}

func TestLeavesMalformedMessagesToTheDecoder(t *testing.T) {
	md := (&fieldsyncv1.PushRequest{}).ProtoReflect().Descriptor()
	for _, b := range [][]byte{{0x0a}, {0x0a, 0x05, 0x01}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0x0b}, 3)} {
		if err := wirecost.Proto(md, b); err != nil {
			t.Errorf("Proto(% x) = %v, want nil (the decoder reports it)", b, err)
		}
	}
	for _, j := range []string{`{"a":"`, `}}}]]`, `[[[`, `"\`} {
		if err := wirecost.JSON([]byte(j)); err != nil {
			t.Errorf("JSON(%q) = %v, want nil", j, err)
		}
	}
}

func FuzzProto(f *testing.F) {
	f.Add(repeatField(1, 100))
	f.Add([]byte{0x0a, 0x02, 0x1a, 0x00})
	b, _ := proto.Marshal(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{Seq: 1, FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"a"}}}}})
	f.Add(b)
	md := (&fieldsyncv1.PushRequest{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, b []byte) {
		if wirecost.Proto(md, b) != nil {
			return
		}
		// Accepted: decoding it stays within twice the bound.
		if got := allocated(b, &fieldsyncv1.PushRequest{}); got > 2*bound(b) {
			t.Fatalf("accepted %d bytes that decode into %d", len(b), got)
		}
	})
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"mutations":[{},{}]}`))
	f.Add([]byte(`{"a":"\"[{"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = wirecost.JSON(b) // never panics
	})
}

func protoregistryType(md protoreflect.MessageDescriptor) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(md.FullName())
}

// BenchmarkPushRequest: walking a push of 100 visits before decoding it,
// against decoding it (the cost the walk adds to every push).
func BenchmarkPushRequest(b *testing.B) {
	visit, _ := anypb.New(&fieldsyncv1.Visit{Notes: "a note of a visit", CustomerId: "demo-huashan"})
	req := &fieldsyncv1.PushRequest{}
	for i := range 100 {
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{
			Seq: uint64(i + 1), RecordId: "01JD0000000000000000000000", RecordType: "fieldsync.v1.Visit", Hlc: 1 << 20,
			FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "customer_id"}}, Value: visit,
		})
	}
	wire, _ := proto.Marshal(req)
	md := req.ProtoReflect().Descriptor()
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := wirecost.Proto(md, wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := proto.Unmarshal(wire, &fieldsyncv1.PushRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	vb := visit.GetValue()
	vd := (&fieldsyncv1.Visit{}).ProtoReflect().Descriptor()
	b.Run("walk value", func(b *testing.B) {
		for b.Loop() {
			_ = wirecost.Proto(vd, vb)
		}
	})
	b.Run("decode value", func(b *testing.B) {
		for b.Loop() {
			_ = proto.Unmarshal(vb, &fieldsyncv1.Visit{})
		}
	})
}
