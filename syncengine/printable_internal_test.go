package syncengine

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// ruleRegexp is the regular expression a printable rule's CEL matches(),
// read from text.proto's descriptors.
func ruleRegexp(t testing.TB, ext protoreflect.ExtensionType) *regexp.Regexp {
	t.Helper()
	opts := ext.TypeDescriptor().Options()
	pre, _ := proto.GetExtension(opts, validate.E_Predefined).(*validate.PredefinedRules)
	if len(pre.GetCel()) != 1 {
		t.Fatalf("%s: %d CEL rules", ext.TypeDescriptor().FullName(), len(pre.GetCel()))
	}
	expr := pre.GetCel()[0].GetExpression()
	start, end := strings.Index(expr, "matches(r'"), strings.LastIndex(expr, "')")
	if start < 0 || end < start {
		t.Fatalf("%s: no matches(r'…') in %q", ext.TypeDescriptor().FullName(), expr)
	}
	return regexp.MustCompile(expr[start+len("matches(r'") : end])
}

// textCases are strings both scanners must judge as the rules' regular
// expressions do.
var textCases = []string{
	"", " ", "   ", "\u3000", "\u00a0", "a", "Zhang Wei", "华东区 第二店", "Ñandú – Süd", "שלום\u200f Acme", "\u200e",
	"line one\nline two", "a\r\nb", "col\tcol", "\t", "\n", "one\u2028two", "\u2029",
	"North\x1b[2J", "a\x00b", "\x00", "bell\x07", "\x08", "v\x0btab", "form\x0cfeed", "\x0e", "\x1f", "\x7f",
	"\u0080", "next\u0085line", "\u009b31m", "\u009f", "\u00a0x",
	"invoice\u202efdp.exe", "\u202a", "\u202d", "a\u2066b\u2069", "\u2067", "\u2068", "\u2065", "\u206a", "\u2029\u202a",
	"\xff", " \xff", "\x80", "\xc2", "\xc2\x9b", "\xe2\x80", "\xe2\x80\xa8", "\xe2\x80\xae", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	"\ufffd", "😀", " 😀 ", "\x20\x20\u2028",
	// Blank: White_Space and invisible format characters alone, or beside a
	// visible character.
	"\u3000\u3000", " \u3000 ", "\u3000a", "张\u3000伟", "\u00a0\u00a0", "\u1680", "\u2000", "\u2009", "\u200a",
	"\u202f", "\u205f", "\u200b", "\u200c", "\u200d", "\u200b\u200e\u200f", "\u2060", "\u2064", "\ufeff", "\xef\xbb\xbf",
	"\u00ad", "\u180e", "\u2061\u2062\u2063", "\u200ba\u200b", "Acme\u00ad", "\u00ac", "\u00ae", "\u167f", "\u1681",
	"\u180d", "\u180f", "\u1fff", "\u2010", "\u2027", "\u2030", "\u205e", "\u2fff", "\u3001", "\ufefe", "\uff00",
	"\u3000\x80", "\u3000\xe3\x80", "\xe3\x80\x80\xe3",
}

// Both scanners judge as the rules' regular expressions (what CEL runs),
// wherever the rune sits in the string.
func TestScannersMatchTheRulesRegexps(t *testing.T) {
	nameRE, textRE := ruleRegexp(t, fieldsyncv1.E_PrintableName), ruleRegexp(t, fieldsyncv1.E_PrintableText)
	check := func(t fataler, s string) {
		if got, want := scanName(s), s == "" || nameRE.MatchString(s); got != want {
			t.Fatalf("scanName(%+q) = %v, want %v", s, got, want)
		}
		if got, want := scanText(s), textRE.MatchString(s); got != want {
			t.Fatalf("scanText(%+q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range textCases {
		check(t, s)
	}
	rapid.Check(t, func(t *rapid.T) { check(t, drawText(t, "s", math.MaxUint64)) })
	// Every rune up to U+3200, from U+FE00 to U+FFFF and around the blank
	// ranges above it (past both rules' ranges), alone, among blanks and at
	// each offset of a longer line (the scan reads eight bytes at a time).
	var runes []rune
	for _, span := range [][2]rune{{0, 0x3200}, {0xfe00, 0xffff}, {0x1bc9f, 0x1bca4}, {0x1d172, 0x1d17b}, {0xdfff0, 0xe1010}} {
		for r := span[0]; r <= span[1]; r++ {
			runes = append(runes, r)
		}
	}
	for _, r := range runes {
		check(t, string(r))
		check(t, "  "+string(r))
		check(t, "\u3000\u200b"+string(r)+"\ufeff\u00a0")
		for i := range 10 {
			check(t, "abcdefghi"[:i]+string(r)+"jklmnopqrstuvwxyz"[i:])
		}
	}
}

// defaultIgnorable is Unicode's Default_Ignorable_Code_Point as
// DerivedCoreProperties.txt derives it: Other_Default_Ignorable_Code_Point,
// Cf and Variation_Selector, less White_Space, the interlinear annotation
// characters U+FFF9–FFFB, the Egyptian hieroglyph format controls
// U+13430–1343F and Prepended_Concatenation_Mark (format characters that
// show).
func defaultIgnorable(r rune) bool {
	if unicode.Is(unicode.White_Space, r) || r >= 0xfff9 && r <= 0xfffb || r >= 0x13430 && r <= 0x1343f ||
		unicode.Is(unicode.Prepended_Concatenation_Mark, r) {
		return false
	}
	return unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector)
}

// TestBlankIsWhiteSpaceOrDefaultIgnorable: a name needs a rune that is
// neither a control (Cc), White_Space, Default_Ignorable_Code_Point nor
// the Braille blank U+2800, over all of Unicode, as package unicode's
// tables say (the rule's regexp in text.proto is checked against blank by
// TestScannersMatchTheRulesRegexps), so the list cannot drift from them.
func TestBlankIsWhiteSpaceOrDefaultIgnorable(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := unicode.Is(unicode.Cc, r) || unicode.Is(unicode.White_Space, r) || defaultIgnorable(r) || r == 0x2800
		if blank(r) != want {
			t.Errorf("blank(%U) = %v, want %v (Unicode %s)", r, !want, want, unicode.Version)
		}
	}
	// The derivation gives the property's known members (Unicode 15).
	for _, r := range []rune{0xad, 0x34f, 0x115f, 0x17b4, 0x180b, 0x180e, 0x200b, 0x2065, 0x3164, 0xfe0f, 0xffa0, 0xfff0, 0xfff8, 0x1d173, 0xe0000, 0xe0fff} {
		if !defaultIgnorable(r) {
			t.Errorf("%U is Default_Ignorable_Code_Point", r)
		}
	}
	for _, r := range []rune{0x600, 0x6dd, 0xfff9, 0x13430, 0x110bd, ' ', 0x3000} {
		if defaultIgnorable(r) {
			t.Errorf("%U is not Default_Ignorable_Code_Point", r)
		}
	}
}

// runesWithin counts as utf8.RuneCountInString does, invalid bytes
// included.
func TestRunesWithin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawText(t, "s", uint64(rapid.IntRange(0, 30).Draw(t, "pad to")))
		lo, hi := uint64(rapid.IntRange(0, 4).Draw(t, "lo")), uint64(rapid.IntRange(0, 40).Draw(t, "hi"))
		if rapid.Bool().Draw(t, "unbounded") {
			hi = math.MaxUint64
		}
		n := uint64(utf8.RuneCountInString(s))
		if got, want := runesWithin(s, lo, hi), n >= lo && n <= hi; got != want {
			t.Fatalf("runesWithin(%+q, %d, %d) = %v, %d runes", s, lo, hi, got, n)
		}
	})
}

// Pieces drawText joins: harmless text, line breaks and tabs, and what
// neither rule allows.
var (
	harmlessPieces = []string{
		"a", "Z", "0", " ", " ", "é", "华", "\u00a0", "\u3000", "\u200e", "\u200f", "\ufffd", "😀",
		"\xff", "\x80", "\xc2", "\xe2\x80", "\xed\xa0\x80",
	}
	// blankPieces are allowed in a name, but are not enough for one.
	blankPieces = []string{
		" ", "\u00a0", "\u00ad", "\u1680", "\u180e", "\u2000", "\u2007", "\u200a", "\u200b", "\u200d", "\u200e", "\u200f",
		"\u202f", "\u205f", "\u2060", "\u2064", "\u3000", "\ufeff", "\ufff0", "\U000e0080", "\U000e0fff",
	}
	breakPieces = []string{"\t", "\n", "\r", "\r\n", "\u2028", "\u2029"}
	badPieces   = []string{
		"\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\x7f",
		"\u0080", "\u0085", "\u009b", "\u009f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
		"\u2066", "\u2067", "\u2068", "\u2069",
	}
)

// drawText draws a string biased toward what the rules look at: mostly
// harmless, often with line breaks, sometimes with a forbidden control,
// sometimes of blanks only (spaces, other White_Space, invisible format
// characters), and sometimes padded to just below, at or just above
// maxLen runes.
func drawText(t *rapid.T, label string, maxLen uint64) string {
	pool := append(cloned(harmlessPieces), blankPieces...)
	switch rapid.IntRange(0, 9).Draw(t, label+" mode") {
	case 0:
		return strings.Join(rapid.SliceOfN(rapid.SampledFrom(blankPieces), 0, 3).Draw(t, label+" blanks"), "")
	case 5, 6:
		pool = append(cloned(pool), breakPieces...)
	case 7, 8, 9:
		pool = append(append(cloned(pool), breakPieces...), badPieces...)
	}
	s := strings.Join(rapid.SliceOfN(rapid.SampledFrom(pool), 0, 12).Draw(t, label), "")
	if maxLen < 1<<20 && rapid.IntRange(0, 4).Draw(t, label+" pad?") == 0 {
		want := int(maxLen) + rapid.IntRange(-1, 1).Draw(t, label+" pad")
		fill := rapid.SampledFrom([]string{"a", "华", " ", "\n"}).Draw(t, label+" fill")
		if n := utf8.RuneCountInString(s); n < want {
			s += strings.Repeat(fill, want-n)
		}
	}
	return s
}

func cloned(s []string) []string { return append([]string(nil), s...) }

// recordTypes are the registry's types and the types by name.
func recordTypes() ([]protoreflect.MessageDescriptor, map[protoreflect.FullName]*RecordType) {
	var types []protoreflect.MessageDescriptor
	byName := map[protoreflect.FullName]*RecordType{}
	for _, rt := range DefaultRegistry().Types() {
		types = append(types, rt.msgType.Descriptor())
		byName[rt.msgType.Descriptor().FullName()] = rt
	}
	return types, byName
}

// Every field with a printable rule that a record carries, at any depth,
// is checked natively: no rule of such a field is one the native check
// lacks. A schema change adding one (a pattern on a name, say) fails here.
func TestEveryPrintableFieldIsCheckedNatively(t *testing.T) {
	types, _ := recordTypes()
	tc, err := newTextChecks(types)
	if err != nil {
		t.Fatalf("fields left to protovalidate: %v", err)
	}
	found := map[protoreflect.FieldDescriptor]bool{}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			if sub := messageOf(fd); sub != nil {
				walk(sub)
			} else if carriesPrintable(fd) {
				found[fd] = true
				if !tc.fields[fd] {
					t.Errorf("%s has a printable rule and is not checked natively", fd.FullName())
				}
			}
		}
	}
	for _, md := range types {
		walk(md)
		if (tc.plans[md.FullName()] != nil) != reachesText(md, map[protoreflect.FullName]bool{}) {
			t.Errorf("%s: plan %v", md.FullName(), tc.plans[md.FullName()] != nil)
		}
	}
	if len(found) != len(tc.fields) || len(found) < 31 {
		t.Errorf("%d fields with a printable rule, %d checked natively", len(found), len(tc.fields))
	}
}

// textRuleOf takes exactly the rules it checks (min_len, max_len, a
// list's max_items) and names any other.
func TestTextRuleOfRefusesRulesItDoesNotCheck(t *testing.T) {
	single := (&fieldsyncv1.Customer{}).ProtoReflect().Descriptor().Fields().ByName("name")
	list := (&fieldsyncv1.Quote{}).ProtoReflect().Descriptor().Fields().ByName("work_items")
	str := func(name bool, edit func(*validate.StringRules)) *validate.StringRules {
		s := validate.StringRules_builder{MaxLen: proto.Uint64(200)}.Build()
		if name {
			proto.SetExtension(s, fieldsyncv1.E_PrintableName, true)
		} else {
			proto.SetExtension(s, fieldsyncv1.E_PrintableText, true)
		}
		if edit != nil {
			edit(s)
		}
		return s
	}
	one := func(s *validate.StringRules, edit func(*validate.FieldRules)) *validate.FieldRules {
		r := validate.FieldRules_builder{String: s}.Build()
		if edit != nil {
			edit(r)
		}
		return r
	}
	items := func(s *validate.StringRules, edit func(*validate.RepeatedRules)) *validate.FieldRules {
		rep := validate.RepeatedRules_builder{MaxItems: proto.Uint64(100), Items: validate.FieldRules_builder{String: s}.Build()}.Build()
		if edit != nil {
			edit(rep)
		}
		return validate.FieldRules_builder{Repeated: rep}.Build()
	}
	for _, tc := range []struct {
		name  string
		fd    protoreflect.FieldDescriptor
		rules *validate.FieldRules
		want  textRule // fd set when checked
		err   bool
	}{
		{"name", single, one(str(true, nil), nil), textRule{fd: single, name: true, maxLen: 200, maxItems: math.MaxUint64}, false},
		{"text", single, one(str(false, nil), nil), textRule{fd: single, maxLen: 200, maxItems: math.MaxUint64}, false},
		{"min_len", single, one(str(true, func(s *validate.StringRules) { s.SetMinLen(1) }), nil),
			textRule{fd: single, name: true, minLen: 1, maxLen: 200, maxItems: math.MaxUint64}, false},
		{"no max_len", single, one(str(true, func(s *validate.StringRules) { s.ClearMaxLen() }), nil),
			textRule{fd: single, name: true, maxLen: math.MaxUint64, maxItems: math.MaxUint64}, false},
		{"items", list, items(str(true, func(s *validate.StringRules) { s.SetMinLen(1) }), nil),
			textRule{fd: list, name: true, minLen: 1, maxLen: 200, maxItems: 100}, false},
		{"items, no max_items", list, items(str(true, nil), func(r *validate.RepeatedRules) { r.ClearMaxItems() }),
			textRule{fd: list, name: true, maxLen: 200, maxItems: math.MaxUint64}, false},
		{"no printable rule", single, one(validate.StringRules_builder{MaxLen: proto.Uint64(5)}.Build(), nil), textRule{}, false},
		{"no rules", single, nil, textRule{}, false},
		{"pattern", single, one(str(true, func(s *validate.StringRules) { s.SetPattern("^a") }), nil), textRule{}, true},
		{"prefix", single, one(str(true, func(s *validate.StringRules) { s.SetPrefix("a") }), nil), textRule{}, true},
		{"max_bytes", single, one(str(true, func(s *validate.StringRules) { s.SetMaxBytes(9) }), nil), textRule{}, true},
		{"email", single, one(str(true, func(s *validate.StringRules) { s.SetEmail(true) }), nil), textRule{}, true},
		{"in", single, one(str(true, func(s *validate.StringRules) { s.SetIn([]string{"a"}) }), nil), textRule{}, true},
		{"both rules", single, one(str(true, func(s *validate.StringRules) { proto.SetExtension(s, fieldsyncv1.E_PrintableText, true) }), nil), textRule{}, true},
		{"printable_name false", single, one(str(true, func(s *validate.StringRules) { proto.SetExtension(s, fieldsyncv1.E_PrintableName, false) }), nil), textRule{}, true},
		{"field CEL", single, one(str(true, nil), func(r *validate.FieldRules) {
			r.SetCel([]*validate.Rule{validate.Rule_builder{Id: proto.String("x"), Expression: proto.String("true")}.Build()})
		}), textRule{}, true},
		{"required", single, one(str(true, nil), func(r *validate.FieldRules) { r.SetRequired(true) }), textRule{}, true},
		{"ignore", single, one(str(true, nil), func(r *validate.FieldRules) { r.SetIgnore(validate.Ignore_IGNORE_IF_ZERO_VALUE) }), textRule{}, true},
		{"unique", list, items(str(true, nil), func(r *validate.RepeatedRules) { r.SetUnique(true) }), textRule{}, true},
		{"min_items", list, items(str(true, nil), func(r *validate.RepeatedRules) { r.SetMinItems(1) }), textRule{}, true},
		{"items CEL", list, items(str(true, nil), func(r *validate.RepeatedRules) {
			r.GetItems().SetCel([]*validate.Rule{validate.Rule_builder{Id: proto.String("x"), Expression: proto.String("true")}.Build()})
		}), textRule{}, true},
	} {
		got, ok, err := textRuleOf(tc.fd, tc.rules)
		switch {
		case (err != nil) != tc.err:
			t.Errorf("%s: error %v", tc.name, err)
		case ok != (tc.want.fd != nil) || ok && got != tc.want:
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, ok, tc.want)
		}
	}
}

// textSlot is where a string with a printable rule sits in a record: the
// message fields leading to it (an element appended to a list), then the
// field.
type textSlot struct {
	record protoreflect.FullName
	path   []protoreflect.FieldDescriptor
	rule   textRule
}

// textSlots lists every slot of the planned record types (to depth 3).
func textSlots(tc *textChecks, types []protoreflect.MessageDescriptor) []textSlot {
	var out []textSlot
	var walk func(record protoreflect.FullName, prefix []protoreflect.FieldDescriptor, p *textPlan)
	walk = func(record protoreflect.FullName, prefix []protoreflect.FieldDescriptor, p *textPlan) {
		for _, r := range p.rules {
			out = append(out, textSlot{record, append(append([]protoreflect.FieldDescriptor(nil), prefix...), r.fd), r})
		}
		for _, n := range p.nested {
			if !n.fd.IsMap() && len(prefix) < 3 {
				walk(record, append(prefix, n.fd), n.plan)
			}
		}
	}
	for _, md := range types {
		if p := tc.plans[md.FullName()]; p != nil {
			walk(md.FullName(), nil, p)
		}
	}
	return out
}

// set puts values in the slot of m (one string for a singular field),
// into a new element of each list on the way when fresh.
func (s textSlot) set(m protoreflect.Message, values []string, fresh bool) {
	for _, fd := range s.path[:len(s.path)-1] {
		if !fd.IsList() {
			m = m.Mutable(fd).Message()
			continue
		}
		l := m.Mutable(fd).List()
		if l.Len() == 0 || fresh {
			l.Append(l.NewElement())
		}
		m = l.Get(l.Len() - 1).Message()
	}
	fd := s.path[len(s.path)-1]
	if !fd.IsList() {
		m.Set(fd, protoreflect.ValueOfString(values[0]))
		return
	}
	l := m.Mutable(fd).List()
	l.Truncate(0)
	for _, v := range values {
		l.Append(protoreflect.ValueOfString(v))
	}
}

// sameValidation fails unless got and want are the same answer: both nil,
// or the same violations (field path, rule path and id, message) in the
// same order.
func sameValidation(t fataler, got, want error) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("engine: %v\nprotovalidate: %v", got, want)
	}
	if got == nil {
		return
	}
	var g, w *protovalidate.ValidationError
	if !errors.As(got, &g) || !errors.As(want, &w) {
		t.Fatalf("not validation errors: engine %v, protovalidate %v", got, want)
	}
	if len(g.Violations) != len(w.Violations) || got.Error() != want.Error() || ViolationMessage(got) != ViolationMessage(want) {
		t.Fatalf("engine: %v\nprotovalidate: %v", got, want)
	}
	for i := range g.Violations {
		if !proto.Equal(g.Violations[i].Proto, w.Violations[i].Proto) {
			t.Fatalf("violation %d: engine %v, protovalidate %v", i, g.Violations[i].Proto, w.Violations[i].Proto)
		}
	}
}

// textVerdict checks the native verdict against protovalidate's: the text
// checks hold exactly when protovalidate finds no violation in a field
// they check.
func textVerdict(t fataler, tc *textChecks, m protoreflect.Message, want error) {
	t.Helper()
	p := tc.plans[m.Descriptor().FullName()]
	var ve *protovalidate.ValidationError
	clean := true
	if errors.As(want, &ve) {
		for _, v := range ve.Violations {
			clean = clean && !tc.fields[leafField(m.Descriptor(), v.Proto.GetField())]
		}
	}
	if got := p.holds(m); got != clean {
		t.Fatalf("native checks hold: %v; protovalidate: %v", got, want)
	}
}

// leafField is the field a violation's path ends at, or nil.
func leafField(md protoreflect.MessageDescriptor, path *validate.FieldPath) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for _, e := range path.GetElements() {
		if md == nil {
			return nil
		}
		if fd = md.Fields().ByNumber(protoreflect.FieldNumber(e.GetFieldNumber())); fd == nil {
			return nil
		}
		md = messageOf(fd)
	}
	return fd
}

// differential is the engine's validator beside plain protovalidate, and
// every slot of the record types.
type differential struct {
	rv     *recordValidator
	plain  protovalidate.Validator
	types  map[protoreflect.FullName]*RecordType
	slots  []textSlot
	checks *textChecks
}

func newDifferential(t testing.TB) *differential {
	t.Helper()
	plain, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	types, byName := recordTypes()
	rv, err := newRecordValidator(plain, types)
	if err != nil {
		t.Fatal(err)
	}
	return &differential{rv: rv, plain: plain, types: byName, slots: textSlots(rv.text, types), checks: rv.text}
}

// check validates m both ways and compares.
func (d *differential) check(t fataler, m proto.Message) {
	t.Helper()
	want := d.plain.Validate(m)
	sameValidation(t, d.rv.Validate(m), want)
	textVerdict(t, d.checks, m.ProtoReflect(), want)
}

// For random strings in random fields with a printable rule (at any depth)
// of random record types, with the other fields drawn too or left empty,
// the engine's validator answers exactly what plain protovalidate does,
// and the native checks hold exactly when protovalidate finds nothing in
// the fields they check.
func TestRecordValidatorSameAsProtovalidate(t *testing.T) {
	d := newDifferential(t)
	if len(d.slots) < 31 {
		t.Fatalf("%d slots", len(d.slots))
	}
	rapid.Check(t, func(t *rapid.T) {
		first := rapid.SampledFrom(d.slots).Draw(t, "slot")
		m := d.types[first.record].New()
		if rapid.Bool().Draw(t, "fill") {
			fillDrawn(t, m.ProtoReflect())
		}
		for i, s := range append([]textSlot{first}, rapid.SliceOfN(rapid.SampledFrom(d.slots), 0, 4).Draw(t, "more")...) {
			if s.record != first.record {
				continue
			}
			values := []string{drawText(t, "text", s.rule.maxLen)}
			if s.rule.fd.IsList() {
				values = make([]string, rapid.IntRange(0, 3).Draw(t, "items"))
				for j := range values {
					values[j] = drawText(t, "item", s.rule.maxLen)
				}
				if rapid.IntRange(0, 9).Draw(t, "too many?") == 0 {
					values = make([]string, s.rule.maxItems+1)
					for j := range values {
						values[j] = "x"
					}
				}
			}
			s.set(m.ProtoReflect(), values, i > 0 && rapid.Bool().Draw(t, "fresh"))
		}
		d.check(t, m)
	})
}

// FuzzRecordValidatorSameAsProtovalidate: a string in one slot (as many
// items as asked of a list) validates as protovalidate validates it.
func FuzzRecordValidatorSameAsProtovalidate(f *testing.F) {
	for i, s := range textCases {
		f.Add(uint16(i), s, uint8(1))
	}
	f.Add(uint16(0), strings.Repeat("a", 20001), uint8(1))
	f.Add(uint16(3), strings.Repeat(" ", 201), uint8(2))
	f.Add(uint16(5), "x", uint8(255))
	d := newDifferential(f)
	f.Fuzz(func(t *testing.T, slot uint16, s string, items uint8) {
		sl := d.slots[int(slot)%len(d.slots)]
		n := int(items % 4)
		if items == 255 {
			n = int(min(sl.rule.maxItems, 1000)) + 1
		}
		values := make([]string, max(n, 1))
		for i := range values {
			values[i] = s
		}
		if sl.rule.fd.IsList() {
			values = values[:n]
		}
		m := d.types[sl.record].New()
		sl.set(m.ProtoReflect(), values, false)
		d.check(t, m)
	})
}
