package syncengine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// The printable-text rules (fieldsync.v1.printable_name and
// printable_text, proto/fieldsync/v1/text.proto) are CEL matches() on a
// regular expression: Go's regexp walks a rune in ~14 ns, so a record's
// text cost more to validate than all its other rules. The engine checks
// them, and every other rule of a field carrying one, in Go instead:
// textChecks answers whether all those fields of a record keep their
// rules. When they do, protovalidate validates the record with those
// fields skipped (they would add no violation); when one does not,
// protovalidate validates the record whole, so a refusal names the same
// violations, in the same order, as before.

// textRule is the whole rules of one string field (or of the items of a
// repeated one) carrying a printable rule, as the engine checks them.
type textRule struct {
	fd       protoreflect.FieldDescriptor
	name     bool   // printable_name; else printable_text
	minLen   uint64 // in runes
	maxLen   uint64 // in runes; math.MaxUint64 when unbounded
	maxItems uint64 // a repeated field's; math.MaxUint64 when unbounded
}

// textRuleOf returns the native check of a field with the given rules: ok
// is false when the field carries no printable rule; the error names a
// rule of such a field the native check does not implement (it then stays
// protovalidate's).
func textRuleOf(fd protoreflect.FieldDescriptor, rules *validate.FieldRules) (r textRule, ok bool, err error) {
	if fd.IsMap() {
		if hasPrintable(rules.GetMap().GetKeys().GetString()) || hasPrintable(rules.GetMap().GetValues().GetString()) {
			return textRule{}, false, fmt.Errorf("%s: a printable rule on a map", fd.FullName())
		}
		return textRule{}, false, nil
	}
	rest := proto.Clone(rules).(*validate.FieldRules)
	str := rest.GetString()
	if fd.IsList() {
		str = rest.GetRepeated().GetItems().GetString()
	}
	if !hasPrintable(str) {
		return textRule{}, false, nil
	}
	r = textRule{fd: fd, maxLen: math.MaxUint64, maxItems: math.MaxUint64}
	name, _ := proto.GetExtension(str, fieldsyncv1.E_PrintableName).(bool)
	text, _ := proto.GetExtension(str, fieldsyncv1.E_PrintableText).(bool)
	if name == text {
		return textRule{}, false, fmt.Errorf("%s: printable_name %v and printable_text %v", fd.FullName(), name, text)
	}
	r.name = name
	proto.ClearExtension(str, fieldsyncv1.E_PrintableName)
	proto.ClearExtension(str, fieldsyncv1.E_PrintableText)
	if str.HasMinLen() {
		r.minLen = str.GetMinLen()
		str.ClearMinLen()
	}
	if str.HasMaxLen() {
		r.maxLen = str.GetMaxLen()
		str.ClearMaxLen()
	}
	if proto.Size(str) == 0 {
		if fd.IsList() {
			rest.GetRepeated().GetItems().ClearType()
		} else {
			rest.ClearType()
		}
	}
	if rep := rest.GetRepeated(); fd.IsList() && rep != nil {
		if rep.HasMaxItems() {
			r.maxItems = rep.GetMaxItems()
			rep.ClearMaxItems()
		}
		if proto.Size(rep.GetItems()) == 0 {
			rep.ClearItems()
		}
		if proto.Size(rep) == 0 {
			rest.ClearType()
		}
	}
	switch {
	case fd.HasPresence():
		return textRule{}, false, fmt.Errorf("%s: a printable rule on a field with presence", fd.FullName())
	case proto.Size(rest) != 0:
		return textRule{}, false, fmt.Errorf("%s: rules the engine does not check natively: %v", fd.FullName(), rest)
	}
	return r, true, nil
}

// hasPrintable reports whether string rules set a printable rule.
func hasPrintable(s *validate.StringRules) bool {
	return s != nil && (proto.HasExtension(s, fieldsyncv1.E_PrintableName) || proto.HasExtension(s, fieldsyncv1.E_PrintableText))
}

// holds reports whether m's value of the field keeps the rules.
func (r *textRule) holds(m protoreflect.Message) bool {
	if !r.fd.IsList() {
		return r.holdsString(m.Get(r.fd).String())
	}
	l := m.Get(r.fd).List()
	if uint64(l.Len()) > r.maxItems {
		return false
	}
	for i := range l.Len() {
		if !r.holdsString(l.Get(i).String()) {
			return false
		}
	}
	return true
}

func (r *textRule) holdsString(s string) bool {
	if r.name && !scanName(s) || !r.name && !scanText(s) {
		return false
	}
	return runesWithin(s, r.minLen, r.maxLen)
}

// runesWithin reports whether s has lo to hi runes (as CEL's size() and
// utf8.RuneCountInString count), counting them only when its length in
// bytes does not answer.
func runesWithin(s string, lo, hi uint64) bool {
	if n := uint64(len(s)); n <= hi && (lo == 0 || lo == 1 && n > 0) {
		return true // a rune is at least a byte
	}
	n := uint64(utf8.RuneCountInString(s))
	return n >= lo && n <= hi
}

// scanName reports whether s is a printable name: empty, or with a
// visible character (see blank) and no C0 or C1 control, DEL, line or
// paragraph separator or bidirectional control. An invalid byte is U+FFFD
// to the rule (as Go's regexp reads it): allowed, and visible.
func scanName(s string) bool {
	return s == "" || scanBytes(s, &nameBytes, 0xa8) && hasVisible(s)
}

// hasVisible reports whether s has a rune that is not blank. A name's
// first byte is mostly a visible one, ending the loop.
func hasVisible(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c > ' ' && c != 0x7f {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !blank(r) {
			return true
		}
		i += n
	}
	return false
}

// blank reports whether r shows nothing in a name: a control, a Unicode
// White_Space character, a Default_Ignorable_Code_Point (invisible format
// characters, bidirectional controls, Hangul fillers, variation
// selectors, tags, …) or the Braille blank: the class text.proto's
// printable_name requires one rune outside of (blankRanges lists it above
// U+00A0).
func blank(r rune) bool {
	if r <= 0xa0 {
		return r <= ' ' || r >= 0x7f
	}
	_, found := slices.BinarySearchFunc(blankRanges[:], r, func(b [2]rune, r rune) int {
		switch {
		case b[1] < r:
			return -1
		case b[0] > r:
			return 1
		}
		return 0
	})
	return found
}

// blankRanges are the characters above U+00A0 a name needs one other than
// (text.proto, printable_name), sorted, each range inclusive: exactly
// Unicode's White_Space and Default_Ignorable_Code_Point, and the Braille
// blank U+2800 (TestBlankIsWhiteSpaceOrDefaultIgnorable derives the set
// from package unicode's tables).
var blankRanges = [...][2]rune{
	{0xad, 0xad}, {0x34f, 0x34f}, {0x61c, 0x61c}, {0x115f, 0x1160}, {0x1680, 0x1680},
	{0x17b4, 0x17b5}, {0x180b, 0x180f}, {0x2000, 0x200f}, {0x2028, 0x202f},
	{0x205f, 0x206f}, {0x2800, 0x2800}, {0x3000, 0x3000}, {0x3164, 0x3164},
	{0xfe00, 0xfe0f}, {0xfeff, 0xfeff}, {0xffa0, 0xffa0}, {0xfff0, 0xfff8},
	{0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
}

// scanText reports whether s is printable free text: as a name, but tabs
// and line breaks (LF, CR, U+2028, U+2029) are allowed, and so is text of
// spaces only.
func scanText(s string) bool {
	return scanBytes(s, &textBytes, 0xaa)
}

// Classes of bytes for scanBytes.
const (
	okByte  = iota
	badByte // an ASCII control the rule does not allow
	leadC2  // leads U+0080–U+00BF: C1 controls are C2 80–C2 9F
	leadE2  // leads U+2000–U+2FFF: the separators are E2 80 A8–A9, the bidi controls E2 80 AA–AE and E2 81 A6–A9
)

// nameBytes and textBytes class each byte for the rules; a byte not
// below 0x80 is one of a rune's, or invalid (U+FFFD: allowed).
var nameBytes, textBytes = byteClasses(nameBadC0), byteClasses(textBadC0)

// Bits of the ASCII characters below 64 neither rule allows: every C0
// control in a name, all but tab, LF and CR in text.
const (
	nameBadC0 = 1<<0x20 - 1
	textBadC0 = nameBadC0 &^ (1<<'\t' | 1<<'\n' | 1<<'\r')
)

func byteClasses(badC0 uint64) (c [256]uint8) {
	for b := range 0x20 {
		if badC0&(1<<b) != 0 {
			c[b] = badByte
		}
	}
	c[0x7f], c[0xc2], c[0xe2] = badByte, leadC2, leadE2
	return c
}

// scanBytes reports whether s holds no byte classed bad and none of the
// sequences the lead bytes start that the rule forbids: C1 controls, and
// from firstE2x80 (0xa8 with the separators, 0xaa without) the E2 80
// ones and the isolates. A lead byte always starts a rune as Go's UTF-8
// decoding reads s (an invalid byte is skipped alone, and a lead byte is
// never a continuation), so finding the sequences bytewise judges the
// runes. Eight plain bytes are skipped at a time.
func scanBytes(s string, class *[256]uint8, firstE2x80 byte) bool {
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		for end := min(i+8, len(s)); i < end; i++ {
			switch class[s[i]] {
			case okByte:
			case badByte:
				return false
			case leadC2:
				if i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
					return false
				}
			case leadE2:
				if i+2 < len(s) && (s[i+1] == 0x80 && s[i+2] >= firstE2x80 && s[i+2] <= 0xae ||
					s[i+1] == 0x81 && s[i+2] >= 0xa6 && s[i+2] <= 0xa9) {
					return false
				}
			}
		}
	}
	return true
}

// plain8 reports whether none of the eight bytes of b is below 0x20, DEL
// or a lead byte the scan looks at (0xc2, 0xe2): such bytes need no
// look. Printable ASCII, Chinese (lead bytes 0xe3–0xe9) and most Latin
// text are plain.
func plain8(b string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	zero := func(x uint64) uint64 { return (x - ones) &^ x & highs } // a zero byte
	below := (w - 0x20*ones) &^ w & highs                            // a byte below 0x20
	return below|zero(w^0x7f*ones)|zero(w^0xc2*ones)|zero(w^0xe2*ones) == 0
}

// textPlan is where a message type's fields with printable rules are: its
// own, and those of the messages its fields hold.
type textPlan struct {
	rules  []textRule
	nested []nestedText
}

// nestedText is a message field (singular, repeated or a map's values)
// whose type has fields with printable rules.
type nestedText struct {
	fd   protoreflect.FieldDescriptor
	plan *textPlan
}

// holds reports whether every field with a printable rule in m, at any
// depth, keeps its rules.
func (p *textPlan) holds(m protoreflect.Message) bool {
	for i := range p.rules {
		if !p.rules[i].holds(m) {
			return false
		}
	}
	for _, n := range p.nested {
		if !m.Has(n.fd) {
			continue
		}
		v := m.Get(n.fd)
		switch {
		case n.fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if !n.plan.holds(l.Get(i).Message()) {
					return false
				}
			}
		case n.fd.IsMap():
			ok := true
			v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
				ok = n.plan.holds(e.Message())
				return ok
			})
			if !ok {
				return false
			}
		default:
			if !n.plan.holds(v.Message()) {
				return false
			}
		}
	}
	return true
}

// textChecks are the native checks of the printable fields of record
// types.
type textChecks struct {
	plans  map[protoreflect.FullName]*textPlan   // by record type; none when it has no such field
	fields map[protoreflect.FieldDescriptor]bool // every field a plan checks
}

// newTextChecks plans the checks of types. A field whose rules the native
// check does not implement is left to protovalidate, and named in the
// error (a test requires there be none); the checks returned are usable
// either way.
func newTextChecks(types []protoreflect.MessageDescriptor) (*textChecks, error) {
	tc := &textChecks{plans: map[protoreflect.FullName]*textPlan{}, fields: map[protoreflect.FieldDescriptor]bool{}}
	b := planBuilder{tc: tc, plans: map[protoreflect.FullName]*textPlan{}}
	for _, md := range types {
		if reachesText(md, map[protoreflect.FullName]bool{}) {
			tc.plans[md.FullName()] = b.plan(md)
		}
	}
	return tc, errors.Join(b.errs...)
}

type planBuilder struct {
	tc    *textChecks
	plans map[protoreflect.FullName]*textPlan
	errs  []error
}

// plan returns md's plan; md must reach a printable field.
func (b *planBuilder) plan(md protoreflect.MessageDescriptor) *textPlan {
	if p, ok := b.plans[md.FullName()]; ok {
		return p // done, or being built (a recursive type)
	}
	p := &textPlan{}
	b.plans[md.FullName()] = p
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if sub := messageOf(fd); sub != nil {
			if reachesText(sub, map[protoreflect.FullName]bool{}) {
				p.nested = append(p.nested, nestedText{fd: fd, plan: b.plan(sub)})
			}
			continue
		}
		r, ok, err := textRuleOf(fd, fieldRules(fd))
		if err != nil {
			b.errs = append(b.errs, err)
		}
		if ok {
			p.rules = append(p.rules, r)
			b.tc.fields[fd] = true
		}
	}
	return p
}

// reachesText reports whether md, or a message its fields hold at any
// depth, has a field with a printable rule.
func reachesText(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if sub := messageOf(fd); sub != nil {
			if reachesText(sub, seen) {
				return true
			}
			continue
		}
		if carriesPrintable(fd) {
			return true
		}
	}
	return false
}

// carriesPrintable reports whether fd's rules set a printable rule on it,
// its items, or its map's keys or values.
func carriesPrintable(fd protoreflect.FieldDescriptor) bool {
	rules := fieldRules(fd)
	return hasPrintable(rules.GetString()) || hasPrintable(rules.GetRepeated().GetItems().GetString()) ||
		hasPrintable(rules.GetMap().GetKeys().GetString()) || hasPrintable(rules.GetMap().GetValues().GetString())
}

// messageOf is the message type fd holds (a map's values' type), or nil.
func messageOf(fd protoreflect.FieldDescriptor) protoreflect.MessageDescriptor {
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return fd.Message()
	}
	return nil
}

// fieldRules is fd's protovalidate rules, or nil.
func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return rules
}
