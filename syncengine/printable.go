package syncengine

import (
	"errors"
	"fmt"
	"math"
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
	var n uint64
	var ok bool
	if r.name {
		n, ok = scanName(s)
	} else {
		n, ok = scanText(s)
	}
	return ok && n >= r.minLen && n <= r.maxLen
}

// Bits of the ASCII characters below 64 neither rule allows: every C0
// control in a name, all but tab, LF and CR in text.
const (
	nameBadC0 = 1<<0x20 - 1
	textBadC0 = nameBadC0 &^ (1<<'\t' | 1<<'\n' | 1<<'\r')
)

// scanName returns s's length in runes (as CEL's size() and
// utf8.RuneCountInString count) and whether it is a printable name: empty,
// or with a non-space character and no C0 or C1 control, DEL, line or
// paragraph separator or bidirectional control. An invalid byte is
// U+FFFD to the rule (as Go's regexp reads it): allowed, and not a space.
func scanName(s string) (runes uint64, ok bool) {
	visible := s == ""
	for i := 0; i < len(s); runes++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 64 && nameBadC0&(1<<c) != 0 || c == 0x7f {
				return 0, false
			}
			visible = visible || c != ' '
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r <= 0x9f || r == 0x2028 || r == 0x2029 || isBidiControl(r) {
			return 0, false
		}
		visible = true
		i += size
	}
	return runes, visible
}

// scanText is scanName for free text: tabs and line breaks (LF, CR,
// U+2028, U+2029) are allowed, and so is text of spaces only.
func scanText(s string) (runes uint64, ok bool) {
	for i := 0; i < len(s); runes++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 64 && textBadC0&(1<<c) != 0 || c == 0x7f {
				return 0, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r <= 0x9f || isBidiControl(r) {
			return 0, false
		}
		i += size
	}
	return runes, true
}

// isBidiControl reports whether r is a bidirectional embedding, override
// (U+202A–U+202E) or isolate (U+2066–U+2069).
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
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
