package fieldsync

import (
	"bytes"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// pageCodec is Connect's protobuf codec, except that it decodes a
// PullResponse of the shape the server sends by itself: the page's records,
// their values and update times are allocated together, one slice each, and
// every string and value shares one copy of the answer's bytes. The
// generic decoder allocated five to seven objects a record (a first sync of
// 10,000 visits: 60,000 objects, ≈ 5.5 MB, and 13 ms of the SDK's CPU).
// Anything else in a page (an unknown field, a field twice, a wire type
// the schema does not have, invalid UTF-8, a truncated field) makes it
// decode the page with proto.Unmarshal instead, which keeps unknown fields
// and reports errors as it always did. A page's strings and values must
// not be modified: they share their bytes.
type pageCodec struct{}

func (pageCodec) Name() string   { return "proto" }
func (pageCodec) IsBinary() bool { return true }

func (c pageCodec) Marshal(m any) ([]byte, error) { return c.MarshalAppend(nil, m) }

func (pageCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm)
}

func (pageCodec) MarshalStable(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pm)
}

// maxPageRecords is the most records a page holds: PullRequest.limit's
// bound (sync.proto). An empty record is two bytes on the wire and some
// 280 decoded, so a page of more is refused before anything is allocated:
// within the 64 MiB an answer may have, it would take gigabytes.
const maxPageRecords = 5000

func (pageCodec) Unmarshal(data []byte, m any) error {
	pm, err := costed(data, m)
	if err != nil {
		return err
	}
	if _, ok := m.(*fieldsyncv1.PullResponse); ok {
		data = bytes.Clone(data) // Connect reuses data
	}
	return decodeOwned(data, pm)
}

// unmarshalOwned is Unmarshal of data that m may keep: a page decoded by
// decodePage shares data's bytes, so the caller must not reuse data.
func (pageCodec) unmarshalOwned(data []byte, m any) error {
	pm, err := costed(data, m)
	if err != nil {
		return err
	}
	return decodeOwned(data, pm)
}

// costed returns m as a message once data, its encoding, passed
// checkAnswerCost: before anything is copied or decoded.
func costed(data []byte, m any) (proto.Message, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("unmarshal into %T: not a protobuf message", m)
	}
	return pm, checkAnswerCost(pm.ProtoReflect().Descriptor(), data)
}

// decodeOwned decodes data, which pm may keep, into pm.
func decodeOwned(data []byte, pm proto.Message) error {
	m := any(pm)
	if page, ok := m.(*fieldsyncv1.PullResponse); ok {
		if n, _ := countRecords(data); n > maxPageRecords {
			return fmt.Errorf("unmarshal into %T: %d records, more than a page holds (%d)", m, n, maxPageRecords)
		}
		if decodePage(data, page) {
			return nil
		}
		proto.Reset(page)
	}
	if err := proto.Unmarshal(data, pm); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	return nil
}

// Field numbers of the messages decodePage reads (proto/fieldsync/v1).
const (
	pageRecords, pageNextCursor, pageHasMore                                     = 1, 2, 3
	recType, recID, recValue, recVersion, recRemoved, recHLC, recTime, recPhotos = 1, 2, 3, 4, 5, 6, 7, 8
	anyTypeURL, anyValue                                                         = 1, 2
	tsSeconds, tsNanos                                                           = 1, 2
)

// decodePage decodes data into page (empty) and reports whether it could;
// false leaves page partly set. The page's strings and values share data's
// bytes.
func decodePage(data []byte, page *fieldsyncv1.PullResponse) bool {
	n, ok := countRecords(data)
	if !ok {
		return false
	}
	recs, anys, times := make([]fieldsyncv1.Record, n), make([]anypb.Any, n), make([]timestamppb.Timestamp, n)
	var ptrs []*fieldsyncv1.Record
	if n > 0 {
		ptrs = make([]*fieldsyncv1.Record, n)
	}
	i := 0
	var seen [pageHasMore + 1]bool
	for b := data; len(b) > 0; {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num > pageHasMore || (num != pageRecords && seen[num]) {
			return false
		}
		seen[num], b = true, b[l:]
		switch {
		case num == pageRecords && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 || !decodeRecord(v, &recs[i], &anys[i], &times[i]) {
				return false
			}
			ptrs[i], i, b = &recs[i], i+1, b[l:]
		case num == pageNextCursor && typ == protowire.BytesType:
			s, l := consumeString(b)
			if l < 0 {
				return false
			}
			page.NextCursor, b = s, b[l:]
		case num == pageHasMore && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return false
			}
			page.HasMore, b = v != 0, b[l:]
		default:
			return false
		}
	}
	page.Records = ptrs
	return true
}

// countRecords counts a page's records, checking only its top level; on
// malformed data, false and the records counted up to it.
func countRecords(b []byte) (int, bool) {
	n := 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n, false
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return n, false
		}
		if num == pageRecords && typ == protowire.BytesType { // else not a record (proto.Unmarshal keeps it as unknown)
			n++
		}
		b = b[l:]
	}
	return n, true
}

// decodeRecord decodes one record into rec, its value into v and its
// update time into t (each used only when the record has one).
func decodeRecord(b []byte, rec *fieldsyncv1.Record, v *anypb.Any, t *timestamppb.Timestamp) bool {
	var seen [recPhotos + 1]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num < recType || num > recPhotos || (num != recPhotos && seen[num]) {
			return false
		}
		seen[num], b = true, b[l:]
		switch {
		case (num == recType || num == recID) && typ == protowire.BytesType:
			s, l := consumeString(b)
			if l < 0 {
				return false
			}
			if num == recType {
				rec.RecordType = s
			} else {
				rec.Id = s
			}
			b = b[l:]
		case (num == recValue || num == recTime || num == recPhotos) && typ == protowire.BytesType:
			m, l := protowire.ConsumeBytes(b)
			if l < 0 || !decodeRecordMessage(num, m, rec, v, t) {
				return false
			}
			b = b[l:]
		case (num == recVersion || num == recRemoved || num == recHLC) && typ == protowire.VarintType:
			x, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return false
			}
			switch num {
			case recVersion:
				rec.Version = x
			case recRemoved:
				rec.Removed = fieldsyncv1.RemovalReason(int32(x))
			default:
				rec.Hlc = x
			}
			b = b[l:]
		default:
			return false
		}
	}
	return true
}

// decodeRecordMessage decodes a record's message field num from m.
func decodeRecordMessage(num protowire.Number, m []byte, rec *fieldsyncv1.Record, v *anypb.Any, t *timestamppb.Timestamp) bool {
	switch num {
	case recValue:
		rec.Value = v
		return decodeAny(m, v)
	case recTime:
		rec.UpdateTime = t
		return decodeTimestamp(m, t)
	}
	ph := new(fieldsyncv1.PhotoStatus) // few records carry photos
	if err := proto.Unmarshal(m, ph); err != nil {
		return false
	}
	rec.Photos = append(rec.Photos, ph)
	return true
}

func decodeAny(b []byte, v *anypb.Any) bool {
	var seen [anyValue + 1]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num < anyTypeURL || num > anyValue || seen[num] || typ != protowire.BytesType {
			return false
		}
		seen[num], b = true, b[l:]
		if num == anyTypeURL {
			s, l := consumeString(b)
			if l < 0 {
				return false
			}
			v.TypeUrl, b = s, b[l:]
			continue
		}
		x, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return false
		}
		v.Value, b = x[:len(x):len(x)], b[l:] // present: never nil, as proto.Unmarshal sets it
		if v.Value == nil {
			v.Value = []byte{}
		}
	}
	return true
}

func decodeTimestamp(b []byte, t *timestamppb.Timestamp) bool {
	var seen [tsNanos + 1]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num < tsSeconds || num > tsNanos || seen[num] || typ != protowire.VarintType {
			return false
		}
		seen[num], b = true, b[l:]
		x, l := protowire.ConsumeVarint(b)
		if l < 0 {
			return false
		}
		if num == tsSeconds {
			t.Seconds = int64(x)
		} else {
			t.Nanos = int32(x)
		}
		b = b[l:]
	}
	return true
}

// consumeString is protowire.ConsumeString for valid UTF-8 only, without a
// copy: the string shares b's bytes.
func consumeString(b []byte) (string, int) {
	v, l := protowire.ConsumeBytes(b)
	if l < 0 || !utf8.Valid(v) {
		return "", -1
	}
	if len(v) == 0 {
		return "", l
	}
	return unsafe.String(&v[0], len(v)), l
}
