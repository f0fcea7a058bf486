package fieldsyncv1_test

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// textField is a string field of a record type, or of a message a record
// carries, and the text rule it has: "printable_name", "printable_text" or
// "" (none).
type textField struct {
	name string // Message.field
	rule string
}

// textFields lists the string fields of every record type and of the
// messages they carry, in declaration order.
func textFields() []textField {
	var out []textField
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] || md.ParentFile().Package() != "fieldsync.v1" {
			return
		}
		seen[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			switch fd.Kind() {
			case protoreflect.StringKind:
				out = append(out, textField{string(md.Name()) + "." + string(fd.Name()), textRule(fd)})
			case protoreflect.MessageKind:
				walk(fd.Message())
			}
		}
	}
	msgs := fieldsyncv1.File_fieldsync_v1_records_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		if opts, ok := proto.GetExtension(md.Options(), fieldsyncv1.E_Record).(*fieldsyncv1.RecordOptions); ok && opts.GetRecord() {
			walk(md)
		}
	}
	return out
}

// textRule is the text rule of a string field (of its items, when repeated).
func textRule(fd protoreflect.FieldDescriptor) string {
	rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	s := rules.GetString()
	if fd.IsList() {
		s = rules.GetRepeated().GetItems().GetString()
	}
	switch {
	case s == nil:
		return ""
	case proto.GetExtension(s, fieldsyncv1.E_PrintableName).(bool):
		return "printable_name"
	case proto.GetExtension(s, fieldsyncv1.E_PrintableText).(bool):
		return "printable_text"
	}
	return ""
}

// notTyped reports whether a string field without a text rule is one no
// person types: ids and scope fields, hashes, codes, and what the server
// writes (docs/operations.md "Printable text").
func notTyped(name string) bool {
	field := name[strings.Index(name, ".")+1:]
	switch {
	case strings.HasSuffix(field, "_id"), strings.HasSuffix(field, "_ids"), strings.Contains(field, "sha256"):
		return true
	}
	return slices.Contains([]string{
		"Visit.action_tags", "PhotoRef.content_type", "Quote.currency", "StockLevel.currency", "RebateRule.currency",
		"DeviceOperationLog.form_record_type", "OperationEntry.field",
		"Alert.title", "Alert.body", "Alert.dedup_key", "AlertParam.name", "AlertParam.value",
	}, name)
}

// docsRow matches a row of the table in docs/operations.md "Printable text":
// | Message (…) | name fields | text fields |
var docsRow = regexp.MustCompile(`(?m)^\| ([A-Z][A-Za-z]+)[^|]* \| ([^|]*)\| ([^|]*)\|$`)

// docsTextRules reads the table: Message.field → rule.
func docsTextRules(t *testing.T) map[string]string {
	t.Helper()
	body, err := os.ReadFile("../../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range docsRow.FindAllStringSubmatch(string(body), -1) {
		if strings.Contains(m[0], "`") {
			continue // the header
		}
		for i, rule := range []string{"printable_name", "printable_text"} {
			for _, f := range strings.Split(m[i+2], ",") {
				if f = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "(each)")); f != "" {
					out[m[1]+"."+f] = rule
				}
			}
		}
	}
	return out
}

// Every string field a record carries has the text rule the operator's
// guide lists for it, or is one no person types; the guide lists no
// field the schemas lack.
func TestRecordTextFieldsHaveTheDocumentedRule(t *testing.T) {
	docs := docsTextRules(t)
	if len(docs) < 30 {
		t.Fatalf("read %d fields from docs/operations.md's table; its format changed?", len(docs))
	}
	for _, f := range textFields() {
		want, listed := docs[f.name]
		switch {
		case listed && f.rule != want:
			t.Errorf("%s: rule %q, docs say %s", f.name, f.rule, want)
		case !listed && f.rule != "":
			t.Errorf("%s: rule %s, not in the docs' table", f.name, f.rule)
		case !listed && !notTyped(f.name):
			t.Errorf("%s: no text rule: decide one (docs/operations.md \"Printable text\")", f.name)
		}
		delete(docs, f.name)
	}
	for name := range docs {
		t.Errorf("docs list %s, which no record has", name)
	}
}

// The two rules' answers, through protovalidate as the server runs it, on
// a name and a text field of a record and an admin's name.
func TestPrintableNameAndTextRules(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in         string
		name, text bool // valid as a record's name, as free text
	}{
		{"", true, true},
		{"Zhang Wei", true, true},
		{"华东区 第二店", true, true},
		{"Ñandú – Süd", true, true},
		{"\u00a0x\u3000", true, true}, // non-breaking and ideographic spaces are not controls
		{"   ", false, true},
		{"\u3000", false, true}, // an ideographic space (typed by Chinese input methods) shows blank
		{"\u3000\u3000", false, true},
		{"张\u3000伟", true, true},                        // beside visible characters it stays
		{"\u00a0\u2009\u202f\u205f", false, true},       // no-break and thin spaces
		{"\u200b\u200c\u200d\u2060\ufeff", false, true}, // zero-width characters
		{"\u00ad\u180e\u200e\u200f\u2064", false, true}, // invisible format characters and marks
		{"\u200bx", true, true},
		{"\u3164\u3164", false, true},                     // Hangul fillers, drawn as nothing
		{"\u115f\u1160\uffa0\u034f", false, true},         // more fillers and the grapheme joiner
		{"\u2800", false, true},                           // the Braille blank
		{"\ufe0f\U000e0041\U000e0100\u180b", false, true}, // variation selectors and a tag
		{"\ufff0\ufff8\U000e0080\U000e0fff", false, true}, // the rest of Default_Ignorable_Code_Point
		{"\u3164\u8001\u3164", true, true},                // beside a visible character they stay
		{"line one\nline two", false, true},
		{"a\r\nb", false, true},
		{"col\tcol", false, true},
		{"North\x1b[2J", false, false},
		{"a\x00b", false, false},
		{"bell\x07", false, false},
		{"\x7f", false, false},
		{"next\u0085line", false, false},
		{"\u009b31m", false, false},
		{"form\x0cfeed", false, false},
		{"v\x0btab", false, false},
		{"invoice\u202efdp.exe", false, false}, // a right-to-left override shows it as "invoice.pdf…"
		{"a\u2066b\u2069", false, false},       // an isolate
		{"one\u2028two", false, true},          // a line separator: a line break
		{"שלום\u200f Acme", true, true},        // a right-to-left mark, as typed in mixed-script names
	} {
		c := &fieldsyncv1.Customer{Name: tc.in, Address: tc.in}
		vs := violations(v.Validate(c))
		if got := !slices.Contains(vs, "name: printable_name"); got != tc.name {
			t.Errorf("name %q: valid %v, want %v (%v)", tc.in, got, tc.name, vs)
		}
		if got := !slices.Contains(vs, "address: printable_text"); got != tc.text {
			t.Errorf("address %q: valid %v, want %v (%v)", tc.in, got, tc.text, vs)
		}
		if tc.in == "" {
			continue
		}
		vs = violations(v.Validate(&fieldsyncv1.CreateRegionRequest{Name: tc.in}))
		if got := len(vs) == 0; got != tc.name {
			t.Errorf("region name %q: valid %v, want %v (%v)", tc.in, got, tc.name, vs)
		}
	}
	// An admin's name is not optional: empty breaks min_len alone.
	if vs := violations(v.Validate(&fieldsyncv1.CreateRegionRequest{})); !slices.Equal(vs, []string{"name: string.min_len"}) {
		t.Errorf("empty region name: %v", vs)
	}
}

// violations lists err's violations as "field: rule id".
func violations(err error) []string {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, v := range ve.Violations {
		out = append(out, protovalidate.FieldPathString(v.Proto.GetField())+": "+v.Proto.GetRuleId())
	}
	return out
}
