package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// historyKinds are the record types fieldsync import loads, by --type.
var historyKinds = map[string]func() proto.Message{
	"visits":        func() proto.Message { return &fieldsyncv1.Visit{} },
	"diagnoses":     func() proto.Message { return &fieldsyncv1.Diagnosis{} },
	"commitments":   func() proto.Message { return &fieldsyncv1.Commitment{} },
	"opportunities": func() proto.Message { return &fieldsyncv1.Opportunity{} },
}

// historyLine is one CSV line: a row to send, or the reason it cannot be.
type historyLine struct {
	line   int // in the file; the header is line 1
	row    *fieldsyncv1.HistoryRow
	field  string
	reason string
}

// parseHistoryCSV reads a history CSV of a kind. The header names the
// columns: source_id and event_time, then fields of the record by their
// proto names. A bad header is an error; a bad value rejects its line.
func parseHistoryCSV(data []byte, kind string) ([]historyLine, error) {
	newRecord := historyKinds[kind]
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: a header line is needed")
	}
	if err != nil {
		return nil, err
	}
	fields := newRecord().ProtoReflect().Descriptor().Fields()
	seen := map[string]bool{}
	for _, name := range header {
		if name != "source_id" && name != "event_time" && (fields.ByName(protoreflect.Name(name)) == nil || !settable(fields.ByName(protoreflect.Name(name)))) {
			return nil, fmt.Errorf("line 1: unknown column %q", name)
		}
		seen[name] = true
	}
	if !seen["source_id"] || !seen["event_time"] {
		return nil, errors.New("line 1: the columns source_id and event_time are required")
	}
	var out []historyLine
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, decodeHistoryLine(line, header, rec, newRecord()))
	}
}

// settable reports whether a record field can come from a CSV column.
func settable(fd protoreflect.FieldDescriptor) bool {
	switch {
	case fd.IsMap():
		return false
	case fd.Kind() == protoreflect.MessageKind:
		name := fd.Message().FullName()
		return name == "google.protobuf.Timestamp" || name == "fieldsync.v1.PhotoRef" && fd.IsList()
	}
	return !fd.IsList() || fd.Kind() == protoreflect.StringKind
}

func decodeHistoryLine(line int, header, rec []string, m proto.Message) historyLine {
	out := historyLine{line: line, row: &fieldsyncv1.HistoryRow{}}
	msg := m.ProtoReflect()
	for j, v := range rec {
		var err error
		switch name := header[j]; name {
		case "source_id":
			out.row.SourceId = v
		case "event_time":
			out.row.EventTime, err = parseCSVTime(v)
		default:
			err = setColumn(msg, msg.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
		}
		if err != nil {
			out.row, out.field, out.reason = nil, header[j], fmt.Sprintf("%q: %v", v, err)
			return out
		}
	}
	setRecord(out.row, m)
	return out
}

func setRecord(row *fieldsyncv1.HistoryRow, m proto.Message) {
	switch v := m.(type) {
	case *fieldsyncv1.Visit:
		row.Record = &fieldsyncv1.HistoryRow_Visit{Visit: v}
	case *fieldsyncv1.Diagnosis:
		row.Record = &fieldsyncv1.HistoryRow_Diagnosis{Diagnosis: v}
	case *fieldsyncv1.Commitment:
		row.Record = &fieldsyncv1.HistoryRow_Commitment{Commitment: v}
	case *fieldsyncv1.Opportunity:
		row.Record = &fieldsyncv1.HistoryRow_Opportunity{Opportunity: v}
	}
}

// setColumn sets a field from a cell: an empty cell leaves it unset.
func setColumn(m protoreflect.Message, fd protoreflect.FieldDescriptor, v string) error {
	if v == "" {
		return nil
	}
	switch {
	case fd.IsList() && fd.Kind() == protoreflect.StringKind:
		list := m.Mutable(fd).List()
		for _, s := range strings.Split(v, ";") {
			list.Append(protoreflect.ValueOfString(strings.TrimSpace(s)))
		}
	case fd.IsList(): // photos: sha256 values separated by ";"
		list := m.Mutable(fd).List()
		for _, s := range strings.Split(v, ";") {
			list.Append(protoreflect.ValueOfMessage((&fieldsyncv1.PhotoRef{Sha256: strings.TrimSpace(s)}).ProtoReflect()))
		}
	case fd.Kind() == protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(v))
	case fd.Kind() == protoreflect.Int64Kind:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		m.Set(fd, protoreflect.ValueOfInt64(n))
	case fd.Kind() == protoreflect.BoolKind:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not true or false")
		}
		m.Set(fd, protoreflect.ValueOfBool(b))
	case fd.Kind() == protoreflect.EnumKind:
		return setEnum(m, fd, v)
	case fd.Kind() == protoreflect.MessageKind:
		ts, err := parseCSVTime(v)
		if err != nil {
			return err
		}
		m.Set(fd, protoreflect.ValueOfMessage(ts.ProtoReflect()))
	default:
		return fmt.Errorf("unsupported column type %s", fd.Kind())
	}
	return nil
}

// setEnum takes an enum value by its short name ("submitted" for
// RECORD_STATUS_SUBMITTED), case-insensitively.
func setEnum(m protoreflect.Message, fd protoreflect.FieldDescriptor, v string) error {
	values := fd.Enum().Values()
	want := strings.ToUpper(strings.TrimSpace(v))
	var names []string
	for i := range values.Len() {
		ev := values.Get(i)
		if ev.Number() == 0 {
			continue
		}
		short := enumShort(fd.Enum(), string(ev.Name()))
		if short == want || string(ev.Name()) == want {
			m.Set(fd, protoreflect.ValueOfEnum(ev.Number()))
			return nil
		}
		names = append(names, strings.ToLower(short))
	}
	return fmt.Errorf("want one of %s", strings.Join(names, ", "))
}

// enumShort drops the enum's common prefix: RECORD_STATUS_SUBMITTED → SUBMITTED.
func enumShort(e protoreflect.EnumDescriptor, name string) string {
	zero := string(e.Values().ByNumber(0).Name()) // …_UNSPECIFIED
	return strings.TrimPrefix(name, strings.TrimSuffix(zero, "UNSPECIFIED"))
}

// csvTimeLayouts are the times a cell may hold; those without a zone are UTC.
var csvTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseCSVTime(v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range csvTimeLayouts {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, errors.New("not a time (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]] in UTC)")
}
