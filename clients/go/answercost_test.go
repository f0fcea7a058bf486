package fieldsync

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// floodedAlert is a page of one Alert whose value holds n empty photos
// (field 6, two bytes each): what a hostile or broken server may send.
func floodedAlert(n int) []byte {
	var value []byte
	for range n {
		value = protowire.AppendTag(value, 6, protowire.BytesType)
		value = protowire.AppendBytes(value, nil)
	}
	return aRecordPage(&fieldsyncv1.Record{RecordType: alertType, Id: "a1", Version: 1, Hlc: 1,
		Value: &anypb.Any{TypeUrl: "type.googleapis.com/" + alertType, Value: value}})
}

// floodedPhotoStates is a page of one record with n empty photo states
// (Record.photos), which the page decoder itself allocates.
func floodedPhotoStates(n int) []byte {
	rec := aRecordPage(&fieldsyncv1.Record{RecordType: visitType, Id: "v1", Version: 1, Hlc: 1,
		Value: &anypb.Any{TypeUrl: "type.googleapis.com/" + visitType}})
	rec, _ = protowire.ConsumeBytes(rec[1:]) // the record itself
	for range n {
		rec = protowire.AppendTag(rec, recPhotos, protowire.BytesType)
		rec = protowire.AppendBytes(rec, nil)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, pageRecords, protowire.BytesType), rec)
}

func aRecordPage(recs ...*fieldsyncv1.Record) []byte {
	b, err := proto.Marshal(&fieldsyncv1.PullResponse{Records: recs, NextCursor: "c2"})
	if err != nil {
		panic(err)
	}
	return b
}

// allocated is the bytes f allocates (runtime.MemStats, this goroutine's
// work only as far as the test runs alone in its package's process; the
// bounds below are three orders of magnitude apart).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAFloodOfEmptyItemsIsRefusedBeforeDecoding: a page of one Alert
// holding 4 million empty photos (8 MiB on the wire) was stored as sent,
// and reading it (Get, List, a rebase) took proto.Unmarshal some 450 MB;
// 30 million within the 64 MiB answer bound took 3.5 GB. Now the page is
// refused with errAnswerCost before anything is decoded, allocating next
// to nothing. The same for a record's photo states, which the page
// decoder allocated itself (≈ 80 bytes each).
func TestAFloodOfEmptyItemsIsRefusedBeforeDecoding(t *testing.T) {
	for name, page := range map[string][]byte{
		"an alert of 4M empty photos": floodedAlert(4 << 20),
		"4M empty photo states":       floodedPhotoStates(4 << 20),
	} {
		var err error
		pageCodec{}.Unmarshal(floodedAlert(3), &fieldsyncv1.PullResponse{}) // the descriptors' lazy set-up (≈ 100 KB, once)
		n := allocated(func() { err = pageCodec{}.Unmarshal(page, &fieldsyncv1.PullResponse{}) })
		if !errors.Is(err, errAnswerCost) {
			t.Fatalf("%s: %v, want errAnswerCost", name, err)
		}
		if n > 64<<10 {
			t.Errorf("%s (%d MiB): refusing it allocated %d bytes", name, len(page)>>20, n)
		}
	}
}

// TestARecordOfMaxRecordItemsIsDecoded: the bound is on more than
// maxRecordItems items; one at the bound is decoded as before.
func TestARecordOfMaxRecordItemsIsDecoded(t *testing.T) {
	page := &fieldsyncv1.PullResponse{}
	const most = maxRecordItems - 2 // the record and its value are items too
	if err := (pageCodec{}).Unmarshal(floodedAlert(most), page); err != nil || len(page.Records) != 1 {
		t.Fatalf("an alert of %d photos: %v", most, err)
	}
	a := &fieldsyncv1.Alert{}
	if err := page.Records[0].Value.UnmarshalTo(a); err != nil || len(a.Photos) != most {
		t.Fatalf("its value: %d photos, %v", len(a.Photos), err)
	}
	if err := (pageCodec{}).Unmarshal(floodedAlert(most+1), page); !errors.Is(err, errAnswerCost) || !strings.Contains(err.Error(), `record "a1" (fieldsync.v1.Alert)`) {
		t.Fatalf("an alert of %d photos: %v, want errAnswerCost naming it", most+1, err)
	}
}

// TestAPageOfTooManyItemsIsRefused: records each within maxRecordItems
// but more than maxAnswerItems together are refused as a page.
func TestAPageOfTooManyItemsIsRefused(t *testing.T) {
	one := floodedAlert(maxRecordItems / 2)
	var page []byte
	for range maxAnswerItems/(maxRecordItems/2) + 1 {
		page = append(page, one...)
	}
	if err := (pageCodec{}).Unmarshal(page, &fieldsyncv1.PullResponse{}); !errors.Is(err, errAnswerCost) || !strings.Contains(err.Error(), "a page of more than") {
		t.Fatalf("%v, want errAnswerCost for the page", err)
	}
}

// TestOtherAnswersAreCostedToo: a Push answer of a million empty results
// (2 MB) is refused as a page is.
func TestOtherAnswersAreCostedToo(t *testing.T) {
	var b []byte
	for range maxAnswerItems + 1 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, nil)
	}
	var err error
	n := allocated(func() { err = pageCodec{}.Unmarshal(b, &fieldsyncv1.PushResponse{}) })
	if !errors.Is(err, errAnswerCost) || n > 64<<10 {
		t.Fatalf("%v (%d bytes allocated), want errAnswerCost", err, n)
	}
}

// TestCountItemsCountsWhatProtoUnmarshalAllocates: on generated pages the
// count is the number of messages and list elements they hold.
func TestCountItemsCountsWhatProtoUnmarshalAllocates(t *testing.T) {
	v, _ := anypb.New(&fieldsyncv1.Quote{
		WorkItems:           []string{"a", "b"},
		Lines:               []*fieldsyncv1.QuoteLine{{}, {}, {}},
		TechnicalParameters: []*fieldsyncv1.TechnicalParameter{{Name: "x"}},
	})
	b := aRecordPage(&fieldsyncv1.Record{RecordType: "fieldsync.v1.Quote", Id: "q", Value: v,
		Photos: []*fieldsyncv1.PhotoStatus{{Sha256: "ab"}}})
	// PullResponse: record 1 + its value 1 + 2 strings + 3 lines + 1 parameter + 1 photo state.
	if got := countItems((&fieldsyncv1.PullResponse{}).ProtoReflect().Descriptor(), b, 0); got != 9 {
		t.Fatalf("counted %d items, want 9", got)
	}
}

// recordTypes are the registered record types (the (record) option).
func recordTypes() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if _, err := lookupType(string(mt.Descriptor().FullName())); err == nil {
			out = append(out, mt.Descriptor())
		}
		return true
	})
	return out
}

// maxItems is the most items a valid message of md holds: every list at
// its max_items, every message field set; ok is false, with the field,
// when a list has no max_items.
func maxItems(md protoreflect.MessageDescriptor, depth int) (n int, unbounded string) {
	if depth > 10 {
		return 0, string(md.FullName()) + " (recursive)"
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		per, inner := 1, ""
		if fd.Message() != nil {
			m, u := maxItems(fd.Message(), depth+1)
			per, inner = 1+m, u
		}
		if inner != "" {
			return 0, inner
		}
		if !fd.IsList() && !fd.IsMap() {
			if fd.Message() != nil {
				n += per
			}
			continue
		}
		rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
		limit := rules.GetRepeated().GetMaxItems()
		if limit == 0 {
			return 0, string(fd.FullName())
		}
		n += int(limit) * per
	}
	return n, ""
}

// TestMaxRecordItemsIsGenerous: every list of every record type has a
// max_items (the server refuses a longer one), and the largest record the
// server accepts holds at most a sixteenth of maxRecordItems, so the
// device never refuses an honest record.
func TestMaxRecordItemsIsGenerous(t *testing.T) {
	types := recordTypes()
	if len(types) < 10 {
		t.Fatalf("found %d record types", len(types))
	}
	for _, md := range types {
		n, unbounded := maxItems(md, 0)
		if unbounded != "" {
			t.Errorf("%s: list %s has no max_items", md.FullName(), unbounded)
			continue
		}
		if rec := 1 + 1 + n + n; rec > maxRecordItems/16 { // record, value, items, a photo state per item at most
			t.Errorf("%s holds up to %d items, more than maxRecordItems/16 (%d)", md.FullName(), rec, maxRecordItems/16)
		}
	}
}

// FuzzAnswerCost: the count never panics, whatever the bytes, and a page
// it lets through is decoded as proto.Unmarshal decodes it (decodeBoth).
func FuzzAnswerCost(f *testing.F) {
	f.Add(floodedAlert(3))
	f.Add(floodedPhotoStates(3))
	f.Add(aPage(2))
	f.Add([]byte{0x0a, 0x05, 0x1a, 0x03, 0x12, 0x01, 0x32}) // a value cut short
	f.Fuzz(func(t *testing.T, b []byte) {
		countItems((&fieldsyncv1.PullResponse{}).ProtoReflect().Descriptor(), b, 0)
		decodeBoth(t, b)
	})
}

// hostileServer answers WhoAmI, and Pull first with one visit (cursor c1),
// then with page.
func hostileServer(t *testing.T, page []byte) (url string, pulls *atomic.Int32) {
	t.Helper()
	pulls = new(atomic.Int32)
	mux := http.NewServeMux()
	mux.Handle(fieldsyncv1connect.NewIdentityServiceHandler(whoAmI{}))
	v, _ := anypb.New(&fieldsyncv1.Visit{CustomerId: "c"})
	honest, _ := proto.Marshal(&fieldsyncv1.PullResponse{NextCursor: "c1", Records: []*fieldsyncv1.Record{
		{RecordType: visitType, Id: "v1", Value: v, Version: 1, Hlc: 1}}})
	mux.HandleFunc(pullPath, func(w http.ResponseWriter, r *http.Request) {
		body := page
		if pulls.Add(1) == 1 {
			body = honest
		}
		answer(200, map[string]string{"Content-Type": "application/proto"}, body, false)(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, pulls
}

type whoAmI struct {
	fieldsyncv1connect.UnimplementedIdentityServiceHandler
}

func (whoAmI) WhoAmI(context.Context, *connect.Request[fieldsyncv1.WhoAmIRequest]) (*connect.Response[fieldsyncv1.WhoAmIResponse], error) {
	return connect.NewResponse(&fieldsyncv1.WhoAmIResponse{TenantId: "t", UserId: "u", DeviceId: "d"}), nil
}

// TestSyncReturnsAnAnswerRefusedForItsCostAndStoresNothing: a device
// pulled by a server that sends a flooded record gets InvalidArgument
// ("invalid answer", naming the record) from Sync at once, not retried;
// its store keeps what it had (the page is not applied, the cursor not
// moved), and every Sync says so again while the server sends it.
func TestSyncReturnsAnAnswerRefusedForItsCostAndStoresNothing(t *testing.T) {
	t.Parallel()
	url, pulls := hostileServer(t, floodedAlert(maxRecordItems))
	c := openDevice(t, t.TempDir()+"/device.db", WithServer(url), WithToken("t"))
	ctx := context.Background()
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	for i := range 2 {
		before := pulls.Load()
		err := c.Sync(ctx)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), `invalid answer: record "a1" (fieldsync.v1.Alert)`) {
			t.Fatalf("sync %d: %v, want InvalidArgument naming the record", i+2, err)
		}
		if n := pulls.Load() - before; n != 1 {
			t.Fatalf("sync %d pulled %d times, want once (not retried)", i+2, n)
		}
	}
	if got := records(t, c, alertType); len(got) != 0 {
		t.Fatalf("the refused alert was stored: %v", got)
	}
	if got := records(t, c, visitType); len(got) != 1 {
		t.Fatalf("%d visits kept, want 1", len(got))
	}
	if cursor, err := metaString(ctx, c.db.read, "cursor"); err != nil || cursor != "c1" {
		t.Fatalf("cursor %q (%v), want c1", cursor, err)
	}
}
