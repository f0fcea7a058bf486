package fieldsync

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// genPage draws a page as the server may send it: values, removals,
// update times, photos, empty strings and values.
func genPage(t *rapid.T) *fieldsyncv1.PullResponse {
	page := &fieldsyncv1.PullResponse{
		NextCursor: rapid.String().Draw(t, "cursor"),
		HasMore:    rapid.Bool().Draw(t, "more"),
	}
	for range rapid.IntRange(0, 5).Draw(t, "records") {
		rec := &fieldsyncv1.Record{
			RecordType: rapid.String().Draw(t, "type"),
			Id:         rapid.String().Draw(t, "id"),
			Version:    rapid.Uint64().Draw(t, "version"),
			Hlc:        rapid.Uint64().Draw(t, "hlc"),
			Removed:    fieldsyncv1.RemovalReason(rapid.Int32Range(0, 3).Draw(t, "removed")),
		}
		if rapid.Bool().Draw(t, "has value") {
			rec.Value = &anypb.Any{TypeUrl: rapid.String().Draw(t, "url"), Value: rapid.SliceOf(rapid.Byte()).Draw(t, "value")}
		}
		if rapid.Bool().Draw(t, "has time") {
			rec.UpdateTime = &timestamppb.Timestamp{Seconds: rapid.Int64().Draw(t, "s"), Nanos: rapid.Int32().Draw(t, "ns")}
		}
		for range rapid.IntRange(0, 2).Draw(t, "photos") {
			rec.Photos = append(rec.Photos, &fieldsyncv1.PhotoStatus{Sha256: rapid.String().Draw(t, "sha"), State: fieldsyncv1.PhotoState(rapid.Int32Range(0, 2).Draw(t, "state"))})
		}
		page.Records = append(page.Records, rec)
	}
	return page
}

// decodeBoth decodes b with pageCodec and with proto.Unmarshal and fails
// unless both give the same page or both refuse it.
func decodeBoth(t interface{ Fatalf(string, ...any) }, b []byte) {
	want := &fieldsyncv1.PullResponse{}
	wantErr := proto.Unmarshal(b, want)
	got := &fieldsyncv1.PullResponse{}
	gotErr := pageCodec{}.Unmarshal(b, got)
	if len(want.GetRecords()) > maxPageRecords && gotErr != nil || errors.Is(gotErr, errAnswerCost) {
		return // refused on purpose (TestPageCodecRefusesMorePageRecordsThanAServerSends, answercost.go)
	}
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("pageCodec: %v, proto.Unmarshal: %v", gotErr, wantErr)
	}
	if wantErr == nil && !proto.Equal(got, want) {
		t.Fatalf("pageCodec decoded\n%v\nproto.Unmarshal\n%v", got, want)
	}
}

func TestPageCodecDecodesPagesAsProtoUnmarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := proto.Marshal(genPage(t))
		if err != nil {
			t.Fatal(err)
		}
		decodeBoth(t, b)
		if !decodePage(b, &fieldsyncv1.PullResponse{}) {
			t.Fatal("a page as the server sends it was left to proto.Unmarshal")
		}
	})
}

func TestPageCodecUnmarshalKeepsNoReferenceToConnectsBuffer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := genPage(t)
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := &fieldsyncv1.PullResponse{}
		if err := (pageCodec{}).Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		clear(b) // Connect reuses its buffer for the next message
		if !proto.Equal(got, want) {
			t.Fatalf("the page changed with the buffer it was decoded from:\n%v\nwant\n%v", got, want)
		}
	})
}

func TestPageCodecDecodesChangedPagesAsProtoUnmarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := proto.Marshal(genPage(t))
		if err != nil {
			t.Fatal(err)
		}
		switch rapid.IntRange(0, 3).Draw(t, "change") {
		case 0: // cut anywhere
			b = b[:rapid.IntRange(0, len(b)).Draw(t, "cut")]
		case 1: // an unknown field, at the end of the page
			b = protowire.AppendTag(b, protowire.Number(rapid.IntRange(4, 100).Draw(t, "num")), protowire.VarintType)
			b = protowire.AppendVarint(b, 7)
		case 2: // any byte changed
			if len(b) > 0 {
				b[rapid.IntRange(0, len(b)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "byte")
			}
		case 3: // the page twice: every field repeated, records merged
			b = append(b, b...)
		}
		decodeBoth(t, b)
	})
}

func TestPageCodecRefusesInvalidUTF8(t *testing.T) {
	b, err := proto.Marshal(&fieldsyncv1.PullResponse{Records: []*fieldsyncv1.Record{{Id: "a", RecordType: "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 0xff // the type's last byte
	if err := (pageCodec{}).Unmarshal(b, &fieldsyncv1.PullResponse{}); err == nil {
		t.Fatal("a record type of invalid UTF-8 was decoded")
	}
}

func TestPageCodecDecodesOtherMessagesAsProto(t *testing.T) {
	want := &fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{Seq: 3, RecordId: "r"}}}
	b, err := pageCodec{}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := &fieldsyncv1.PushRequest{}
	if err := (pageCodec{}).Unmarshal(b, got); err != nil || !proto.Equal(got, want) {
		t.Fatalf("decoded %v (%v), want %v", got, err, want)
	}
}

// BenchmarkDecodePage decodes a page of 4,000 visits as the server sends
// it, with pageCodec and with proto.Unmarshal.
func BenchmarkDecodePage(b *testing.B) {
	page := &fieldsyncv1.PullResponse{NextCursor: "c", HasMore: true}
	for i := range 4000 {
		m := seedMutation(b, uint64(i+1), uint64(i+1))
		page.Records = append(page.Records, &fieldsyncv1.Record{RecordType: m.GetRecordType(), Id: m.GetRecordId(), Value: m.GetValue(), Version: 1, Hlc: m.GetHlc(), UpdateTime: timestamppb.Now()})
	}
	data, err := proto.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte, *fieldsyncv1.PullResponse) error
	}{
		{"pageCodec", func(d []byte, p *fieldsyncv1.PullResponse) error { return pageCodec{}.Unmarshal(d, p) }},
		{"proto.Unmarshal", func(d []byte, p *fieldsyncv1.PullResponse) error { return proto.Unmarshal(d, p) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := c.decode(data, &fieldsyncv1.PullResponse{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzPageCodec feeds arbitrary answers to pageCodec: it must never panic
// and must decode each exactly as proto.Unmarshal does, or refuse it as
// proto.Unmarshal does (a page comes from the network: a proxy or a
// server of another version may send anything).
func FuzzPageCodec(f *testing.F) {
	seed := &fieldsyncv1.PullResponse{NextCursor: "c1", HasMore: true, Records: []*fieldsyncv1.Record{
		{RecordType: "fieldsync.v1.Visit", Id: "v1", Version: 7, Hlc: 9, Value: &anypb.Any{TypeUrl: "type.googleapis.com/fieldsync.v1.Visit", Value: []byte{10, 1, 'x'}},
			UpdateTime: &timestamppb.Timestamp{Seconds: 1, Nanos: 2}, Photos: []*fieldsyncv1.PhotoStatus{{Sha256: "ab"}}},
		{RecordType: "fieldsync.v1.Customer", Id: "c1", Version: 8, Removed: fieldsyncv1.RemovalReason(1)},
	}}
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(append(b, b...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { decodeBoth(t, b) })
}

// TestPageCodecRefusesMorePageRecordsThanAServerSends: a page of 5,001
// empty records (10 KB, a few dozen bytes gzipped) is refused, not
// decoded. Each empty record costs two bytes on the wire and ~280 bytes
// decoded (record, value, time), so the 64 MiB bound on an answer let a
// hostile server or proxy make a device allocate ~9 GB (proto.Unmarshal,
// ~6 GB). No server sends more than PullRequest.limit's bound.
func TestPageCodecRefusesMorePageRecordsThanAServerSends(t *testing.T) {
	t.Parallel()
	page := func(n int) []byte {
		var b []byte
		for range n {
			b = protowire.AppendTag(b, pageRecords, protowire.BytesType)
			b = protowire.AppendBytes(b, nil)
		}
		return b
	}
	got := &fieldsyncv1.PullResponse{}
	if err := (pageCodec{}).Unmarshal(page(maxPageRecords), got); err != nil || len(got.Records) != maxPageRecords {
		t.Fatalf("a page of %d records: %d decoded, %v", maxPageRecords, len(got.Records), err)
	}
	if err := (pageCodec{}).Unmarshal(page(maxPageRecords+1), &fieldsyncv1.PullResponse{}); err == nil {
		t.Fatalf("a page of %d records was decoded", maxPageRecords+1)
	}
}
