package syncengine

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

const (
	statusDraft     = fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT
	statusSubmitted = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED
)

func ver(hlc uint64, actor string) Version { return Version{HLC: HLC(hlc), Actor: actor} }

// set is an edit of the named fields of v at at.
func set(v proto.Message, at Version, fields ...string) Change {
	return Change{Fields: fields, Value: v, At: at}
}

func del(at Version) Change { return Change{Delete: true, At: at} }

// lossKey is what the pair tests compare of a Loss.
type lossKey struct{ Field, Reason string }

func lossKeys(losses []Loss) []lossKey {
	keys := make([]lossKey, 0, len(losses))
	for _, l := range losses {
		keys = append(keys, lossKey{l.Field, l.Reason})
	}
	return sortedKeys(keys)
}

// sortedKeys returns a sorted copy of keys.
func sortedKeys(keys []lossKey) []lossKey {
	keys = slices.Clone(keys)
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	return keys
}

// fataler is what mergeAll needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// mergeAll applies changes in order and returns the state and their losses.
func mergeAll(t fataler, rt *RecordType, cur *State, changes ...Change) (*State, []Loss) {
	t.Helper()
	var all []Loss
	for i, ch := range changes {
		next, losses, err := rt.Merge(cur, ch)
		if err != nil {
			t.Fatalf("change %d (at %v): %v", i, ch.At, err)
		}
		cur, all = next, append(all, losses...)
	}
	return cur, all
}

// stateDiff describes how two states differ in what must converge, or "".
func stateDiff(a, b *State) string {
	var diffs []string
	if !proto.Equal(a.Value, b.Value) {
		diffs = append(diffs, fmt.Sprintf("value %v != %v", a.Value, b.Value))
	}
	if !maps.Equal(a.Fields, b.Fields) {
		diffs = append(diffs, fmt.Sprintf("fields %v != %v", a.Fields, b.Fields))
	}
	if !maps.EqualFunc(a.Elements, b.Elements, slices.Equal) {
		diffs = append(diffs, fmt.Sprintf("elements %v != %v", a.Elements, b.Elements))
	}
	if a.DeletedAt != b.DeletedAt || a.Deleted() != b.Deleted() {
		diffs = append(diffs, fmt.Sprintf("deleted %v/%v != %v/%v", a.DeletedAt, a.Deleted(), b.DeletedAt, b.Deleted()))
	}
	return strings.Join(diffs, "; ")
}

func TestVersionLessOrdersByHLCThenActor(t *testing.T) {
	t.Parallel()
	ordered := []Version{{}, ver(1, ""), ver(1, "dev-a"), ver(1, "dev-b"), ver(2, "dev-a")}
	for i, a := range ordered {
		for j, b := range ordered {
			if got := a.Less(b); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v", a, b, got)
			}
		}
	}
	if !(Version{}).IsZero() || ver(0, "x").IsZero() {
		t.Error("IsZero is wrong")
	}
}

// pairCase applies a then b and b then a after base: the syncthing
// conflict_test.go style. lossesAB and lossesBA are the losses of a and b.
type pairCase struct {
	name               string
	typ                string
	base               []Change
	a, b               Change
	want               proto.Message
	deleted            bool
	lossesAB, lossesBA []lossKey
}

func visitPairCases() []pairCase {
	v := func(notes string, tags ...string) *fieldsyncv1.Visit {
		return &fieldsyncv1.Visit{Notes: notes, ActionTags: tags}
	}
	base := []Change{set(&fieldsyncv1.Visit{Notes: "base", CustomerId: "c"}, ver(5, "dev-a"), "notes", "customer_id")}
	baseTags := []Change{set(v("", "old"), ver(5, "dev-a"), "action_tags")}
	older := []lossKey{{"notes", LossOlder}}
	deleted := []lossKey{{"customer_id", LossDeleted}, {"notes", LossDeleted}}
	return []pairCase{
		{name: "last writer wins: the newer value stays",
			a: set(v("old"), ver(10, "dev-a"), "notes"), b: set(v("new"), ver(20, "dev-b"), "notes"),
			want: v("new"), lossesBA: older},
		{name: "last writer wins: on the same HLC the higher actor wins",
			a: set(v("from a"), ver(10, "dev-a"), "notes"), b: set(v("from b"), ver(10, "dev-b"), "notes"),
			want: v("from b"), lossesBA: older},
		{name: "last writer wins: a newer clear beats an older value",
			a: set(v("x"), ver(10, "dev-a"), "notes"), b: set(v(""), ver(20, "dev-b"), "notes"),
			want: v(""), lossesBA: older},
		{name: "writes to different fields both stay",
			a: set(v("n"), ver(10, "dev-a"), "notes"), b: set(&fieldsyncv1.Visit{CustomerId: "c"}, ver(20, "dev-b"), "customer_id"),
			want: &fieldsyncv1.Visit{Notes: "n", CustomerId: "c"}},
		{name: "set union keeps every element ordered by newest write",
			a: set(v("", "x", "y"), ver(10, "dev-a"), "action_tags"), b: set(v("", "y", "z"), ver(20, "dev-b"), "action_tags"),
			want: v("", "x", "y", "z")},
		{name: "set union moves an element re-sent by a newer write to that write's place",
			a: set(v("", "a", "b"), ver(10, "dev-a"), "action_tags"), b: set(v("", "a", "c"), ver(20, "dev-b"), "action_tags"),
			want: v("", "b", "a", "c")},
		{name: "set union with an empty incoming list removes nothing",
			a: set(v("", "x"), ver(10, "dev-a"), "action_tags"), b: set(v(""), ver(20, "dev-b"), "action_tags"),
			want: v("", "x")},
		{name: "a server-only field set by the server and a device edit both stay",
			a: Change{Fields: []string{"high_value"}, Value: &fieldsyncv1.Visit{HighValue: true}, At: ver(10, ServerActor), Server: true},
			b: set(v("n"), ver(20, "dev-b"), "notes"), want: &fieldsyncv1.Visit{Notes: "n", HighValue: true}},
		{name: "a frozen field of a draft is last writer wins",
			a:    set(&fieldsyncv1.Visit{CustomerId: "c1"}, ver(10, "dev-a"), "customer_id"),
			b:    set(&fieldsyncv1.Visit{CustomerId: "c2"}, ver(20, "dev-b"), "customer_id"),
			want: &fieldsyncv1.Visit{CustomerId: "c2"}, lossesBA: []lossKey{{"customer_id", LossOlder}}},
		{name: "a delete wins over an older edit", base: base,
			a: set(v("edit"), ver(10, "dev-a"), "notes"), b: del(ver(20, "dev-b")),
			want: v(""), deleted: true, lossesAB: deleted, lossesBA: append(slices.Clone(deleted), lossKey{"notes", LossDeleted})},
		{name: "a newer edit resurrects a deleted record with only its fields", base: base,
			a: del(ver(10, "dev-a")), b: set(v("back"), ver(20, "dev-b"), "notes"),
			want: v("back"), lossesAB: deleted, lossesBA: []lossKey{{"customer_id", LossDeleted}}},
		{name: "a delete removes the union elements written before it only", base: baseTags,
			a: del(ver(10, "dev-a")), b: set(v("", "new"), ver(20, "dev-b"), "action_tags"),
			want: v("", "new"), lossesAB: []lossKey{{"action_tags", LossDeleted}}, lossesBA: []lossKey{{"action_tags", LossDeleted}}},
		{name: "a union write older than the delete adds nothing", base: base,
			a: set(v("", "x"), ver(10, "dev-a"), "action_tags"), b: del(ver(20, "dev-b")), want: v(""), deleted: true,
			lossesAB: append(slices.Clone(deleted), lossKey{"action_tags", LossDeleted}),
			lossesBA: append(slices.Clone(deleted), lossKey{"action_tags", LossDeleted})},
		{name: "the newer of two deletes is the tombstone", base: base,
			a: del(ver(10, "dev-a")), b: del(ver(20, "dev-b")), want: v(""), deleted: true, lossesAB: deleted, lossesBA: deleted},
		{name: "a delete that arrives before the create is a tombstone for it",
			a: set(v("made offline"), ver(10, "dev-a"), "notes"), b: del(ver(20, "dev-b")),
			want: v(""), deleted: true, lossesAB: []lossKey{{"notes", LossDeleted}}, lossesBA: []lossKey{{"notes", LossDeleted}}},
	}
}

func TestMergePairsConvergeInBothOrders(t *testing.T) {
	t.Parallel()
	cases := append(visitPairCases(), pairCase{
		name: "set union of messages compares elements by value", typ: "Diagnosis",
		a:    set(&fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{{Sha256: "p1"}, {Sha256: "p2", SizeBytes: 2}}}, ver(10, "dev-a"), "photos"),
		b:    set(&fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{{Sha256: "p2", SizeBytes: 2}, {Sha256: "p3"}}}, ver(20, "dev-b"), "photos"),
		want: &fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{{Sha256: "p1"}, {Sha256: "p2", SizeBytes: 2}, {Sha256: "p3"}}},
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := recordType(t, cmp.Or(tc.typ, "Visit"))
			start, _ := mergeAll(t, rt, nil, tc.base...)
			ab, lossesAB := mergeAll(t, rt, start, tc.a, tc.b)
			ba, lossesBA := mergeAll(t, rt, start, tc.b, tc.a)
			if diff := stateDiff(ab, ba); diff != "" {
				t.Fatalf("a→b and b→a differ: %s", diff)
			}
			if !proto.Equal(ab.Value, tc.want) || ab.Deleted() != tc.deleted {
				t.Fatalf("value %v (deleted %v), want %v (deleted %v)", ab.Value, ab.Deleted(), tc.want, tc.deleted)
			}
			for _, o := range []struct {
				order     string
				got, want []lossKey
			}{{"a→b", lossKeys(lossesAB), sortedKeys(tc.lossesAB)}, {"b→a", lossKeys(lossesBA), sortedKeys(tc.lossesBA)}} {
				if !slices.Equal(o.got, o.want) {
					t.Errorf("%s losses = %v, want %v", o.order, o.got, o.want)
				}
			}
		})
	}
}

func TestMergeFrozenAfterSubmitDependsOnArrivalOrder(t *testing.T) {
	t.Parallel()
	submit := set(&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, ver(20, "dev-a"), "status", "customer_id", "notes")
	customer := func(id string, at Version) Change {
		return set(&fieldsyncv1.Visit{CustomerId: id}, at, "customer_id")
	}
	tests := []struct {
		name       string
		steps      []Change
		want       *fieldsyncv1.Visit
		wantLosses []lossKey // of the last step
	}{
		{"a submitted record keeps its frozen fields", []Change{submit, customer("c2", ver(30, "dev-b"))},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, []lossKey{{"customer_id", LossFrozen}}},
		{"a submitted record cannot go back to draft", []Change{submit, set(&fieldsyncv1.Visit{Status: statusDraft}, ver(30, "dev-a"), "status")},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, []lossKey{{"status", LossFrozen}}},
		{"fields that are not frozen stay editable", []Change{submit, set(&fieldsyncv1.Visit{Notes: "more"}, ver(30, "dev-a"), "notes")},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "more"}, nil},
		{"union fields still grow", []Change{submit, set(&fieldsyncv1.Visit{ActionTags: []string{"t"}}, ver(30, "dev-a"), "action_tags")},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n", ActionTags: []string{"t"}}, nil},
		{"the submitting change writes its own frozen fields", []Change{customer("c0", ver(5, "dev-a")), submit},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, nil},
		{"an edit made before the submit but arriving after it is frozen out", []Change{submit, customer("c2", ver(10, "dev-b"))},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, []lossKey{{"customer_id", LossFrozen}}},
		{"a newer edit arriving before the submit wins over the submit's value", []Change{customer("c2", ver(30, "dev-b")), submit},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c2", Notes: "n"}, []lossKey{{"customer_id", LossOlder}}},
		{"re-sending the same frozen values is not a conflict", []Change{submit, set(&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n2"}, ver(30, "dev-a"), "status", "customer_id", "notes")},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n2"}, nil},
		{"the server cannot change a frozen field either", []Change{submit, {Fields: []string{"customer_id"}, Value: &fieldsyncv1.Visit{CustomerId: "c9"}, At: ver(30, ServerActor), Server: true}},
			&fieldsyncv1.Visit{Status: statusSubmitted, CustomerId: "c1", Notes: "n"}, []lossKey{{"customer_id", LossFrozen}}},
	}
	rt := recordType(t, "Visit")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur, _ := mergeAll(t, rt, nil, tt.steps[:len(tt.steps)-1]...)
			next, losses := mergeAll(t, rt, cur, tt.steps[len(tt.steps)-1])
			if !proto.Equal(next.Value, tt.want) {
				t.Fatalf("value %v, want %v", next.Value, tt.want)
			}
			if got := lossKeys(losses); !slices.Equal(got, sortedKeys(tt.wantLosses)) {
				t.Fatalf("losses %v, want %v", got, tt.wantLosses)
			}
		})
	}
}

func TestMergeRefusesInvalidChangesWithoutChangingState(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	cur, _ := mergeAll(t, rt, nil, set(&fieldsyncv1.Visit{Notes: "n"}, ver(5, "dev-a"), "notes"))
	submitted, _ := mergeAll(t, rt, cur, set(&fieldsyncv1.Visit{Status: statusSubmitted}, ver(6, "dev-a"), "status"))
	at := ver(10, "dev-a")
	tests := []struct {
		name     string
		cur      *State
		ch       Change
		wantCode Code
		wantMsg  string
	}{
		{"no version", cur, set(&fieldsyncv1.Visit{}, Version{}, "notes"), CodeInvalid, "no version"},
		{"no value", cur, Change{Fields: []string{"notes"}, At: at}, CodeInvalid, "no value"},
		{"a value of another type", cur, set(&fieldsyncv1.Commitment{}, at, "notes"), CodeInvalid, "fieldsync.v1.Commitment"},
		{"an unknown field", cur, set(&fieldsyncv1.Visit{}, at, "nope"), CodeInvalid, `"nope"`},
		{"a nested field path", cur, set(&fieldsyncv1.Visit{}, at, "visit_time.seconds"), CodeInvalid, "nested paths"},
		{"a set field missing from the mask", cur, set(&fieldsyncv1.Visit{Notes: "x", Kind: 1}, at, "notes"), CodeInvalid, `"kind" is set but not in the field mask`},
		{"a delete with a field mask", cur, Change{Delete: true, Fields: []string{"notes"}, At: at}, CodeInvalid, "field mask"},
		{"a device setting a server-only field", cur, set(&fieldsyncv1.Visit{HighValue: true}, at, "notes", "high_value"), CodePermissionDenied, `"high_value"`},
		{"a delete of a submitted record", submitted, del(at), CodeFailedPrecondition, "cannot be deleted"},
		{"a stored state without value", &State{}, set(&fieldsyncv1.Visit{}, at, "notes"), CodeInternal, "no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := tt.cur.Clone()
			next, losses, err := rt.Merge(tt.cur, tt.ch)
			if !IsCode(err, tt.wantCode) || !strings.Contains(err.Error(), tt.wantMsg) || next != nil || losses != nil {
				t.Fatalf("Merge = %v, %v, %v; want code %v with %q", next, losses, err, tt.wantCode, tt.wantMsg)
			}
			if diff := stateDiff(before, tt.cur); tt.cur.Value != nil && diff != "" {
				t.Fatalf("cur changed: %s", diff)
			}
		})
	}
}

func TestMergeServerOnlyFieldErrorWrapsErrServerOnlyField(t *testing.T) {
	t.Parallel()
	_, _, err := recordType(t, "Quote").Merge(nil, set(&fieldsyncv1.Quote{Complete: true}, ver(1, "dev-a"), "complete"))
	if !errors.Is(err, ErrServerOnlyField) || !IsCode(err, CodePermissionDenied) {
		t.Fatalf("err = %v; want PermissionDenied wrapping ErrServerOnlyField", err)
	}
	st, _, err := recordType(t, "Quote").Merge(nil, Change{Fields: []string{"complete"}, Value: &fieldsyncv1.Quote{Complete: true}, At: ver(1, ServerActor), Server: true})
	if err != nil || !st.Value.(*fieldsyncv1.Quote).Complete {
		t.Fatalf("server write of a server-only field: %v, %v", st, err)
	}
}

func TestMergeCreateStampsCreatedAndEveryMaskedField(t *testing.T) {
	t.Parallel()
	at := ver(7, "dev-a")
	st, losses, err := recordType(t, "Visit").Merge(nil, set(&fieldsyncv1.Visit{Notes: "n"}, at, "notes", "customer_id"))
	if err != nil || len(losses) != 0 {
		t.Fatalf("create: %v, %v", losses, err)
	}
	want := map[string]Version{"notes": at, "customer_id": at}
	if st.Created != at || !maps.Equal(st.Fields, want) || st.Deleted() || !st.DeletedAt.IsZero() {
		t.Fatalf("created state %+v, want fields %v and Created %v", st, want, at)
	}
}

func TestMergeLeavesCurrentStateAndChangeUntouched(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	cur, _ := mergeAll(t, rt, nil, set(&fieldsyncv1.Visit{Notes: "n", ActionTags: []string{"a"}}, ver(5, "dev-a"), "notes", "action_tags"))
	before := cur.Clone()
	in := &fieldsyncv1.Visit{Notes: "m", ActionTags: []string{"b"}}
	next, _ := mergeAll(t, rt, cur, set(in, ver(6, "dev-a"), "notes", "action_tags"))
	next.Value.(*fieldsyncv1.Visit).ActionTags[0] = "mutated"
	if diff := stateDiff(before, cur); diff != "" || cur.Created != before.Created {
		t.Fatalf("cur changed: %s", diff)
	}
	if in.ActionTags[0] != "b" || in.Notes != "m" {
		t.Fatalf("change value changed: %v", in)
	}
}

func TestMergeReplayingAChangeIsANoOp(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	ch := set(&fieldsyncv1.Visit{Notes: "n", ActionTags: []string{"a", "b"}}, ver(5, "dev-a"), "notes", "action_tags")
	once, _ := mergeAll(t, rt, nil, ch)
	twice, losses := mergeAll(t, rt, once, ch)
	if diff := stateDiff(once, twice); diff != "" || len(losses) != 0 {
		t.Fatalf("replay changed the state (%s) or lost values (%v)", diff, losses)
	}
}

func TestMergeAcceptsAnotherRepresentationOfTheType(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	dyn := dynamicpb.NewMessage(rt.Desc)
	dyn.Set(rt.Fields["notes"].Desc, protoreflect.ValueOfString("from dynamicpb"))
	st, _ := mergeAll(t, rt, nil, set(dyn, ver(1, "dev-a"), "notes"))
	if v, ok := st.Value.(*fieldsyncv1.Visit); !ok || v.Notes != "from dynamicpb" {
		t.Fatalf("value %T %v, want *fieldsyncv1.Visit with the notes", st.Value, st.Value)
	}
	dyn.Set(rt.Fields["notes"].Desc, protoreflect.ValueOfString("\xff not UTF-8"))
	if _, _, err := rt.Merge(nil, set(dyn, ver(1, "dev-a"), "notes")); !IsCode(err, CodeInvalid) {
		t.Fatalf("Merge of an unconvertible value = %v, want CodeInvalid", err)
	}
}

func TestMergeLossesCarryBothValuesAndVersions(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	newer, older := ver(20, "dev-b"), ver(10, "dev-a")
	cur, _ := mergeAll(t, rt, nil, set(&fieldsyncv1.Visit{Notes: "kept", ActionTags: []string{"x", "y"}}, newer, "notes", "action_tags"))
	_, losses := mergeAll(t, rt, cur, set(&fieldsyncv1.Visit{Notes: "lost"}, older, "notes"))
	want := Loss{Field: "notes", Losing: &fieldsyncv1.Visit{Notes: "lost"}, Winning: &fieldsyncv1.Visit{Notes: "kept"},
		LosingAt: older, WinningAt: newer, Reason: LossOlder}
	if len(losses) != 1 || !lossEqual(losses[0], want) {
		t.Fatalf("losses %+v, want %+v", losses, want)
	}
	tomb := ver(30, "dev-a")
	_, losses = mergeAll(t, rt, cur, del(tomb))
	wantTags := Loss{Field: "action_tags", Losing: &fieldsyncv1.Visit{ActionTags: []string{"x", "y"}}, Winning: &fieldsyncv1.Visit{},
		LosingAt: newer, WinningAt: tomb, Reason: LossDeleted}
	if len(losses) != 2 || !lossEqual(losses[1], wantTags) {
		t.Fatalf("delete losses %+v, want the tags %+v", losses, wantTags)
	}
}

func lossEqual(a, b Loss) bool {
	return a.Field == b.Field && a.Reason == b.Reason && a.LosingAt == b.LosingAt && a.WinningAt == b.WinningAt &&
		proto.Equal(a.Losing, b.Losing) && proto.Equal(a.Winning, b.Winning)
}

func TestMergeWithoutElementVersionsCountsElementsAtTheFieldVersion(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	stored := &State{Value: &fieldsyncv1.Visit{ActionTags: []string{"a", "b"}}, Fields: map[string]Version{"action_tags": ver(10, "dev-a")}}
	kept, _ := mergeAll(t, rt, stored, del(ver(5, "dev-b")))
	gone, _ := mergeAll(t, rt, stored, del(ver(15, "dev-b")))
	if got := kept.Value.(*fieldsyncv1.Visit).ActionTags; len(got) != 2 {
		t.Fatalf("an older delete removed elements: %v", got)
	}
	if got := gone.Value.(*fieldsyncv1.Visit).ActionTags; len(got) != 0 || !gone.Deleted() {
		t.Fatalf("a newer delete kept elements: %v", got)
	}
}

func TestStateDeletedAndClone(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	st, _ := mergeAll(t, rt, nil, set(&fieldsyncv1.Visit{ActionTags: []string{"a"}}, ver(1, "d"), "action_tags"), del(ver(2, "d")))
	if !st.Deleted() || (*State)(nil).Deleted() {
		t.Fatal("Deleted() wrong after a delete")
	}
	c := st.Clone()
	c.Fields["notes"], c.Elements["x"] = ver(9, "d"), []Version{{}}
	if c.Deleted() || !st.Deleted() || st.Elements["x"] != nil || (*State)(nil).Clone() != nil {
		t.Fatal("Clone shares maps with the original, or a newer field does not resurrect")
	}
}

// drawChanges draws 1–6 changes with distinct versions on rt: deletes and
// edits of random fields. Statuses stay draft, so nothing freezes (frozen
// after submit is order-dependent by design and tested by tables).
func drawChanges(t *rapid.T, rt *RecordType) []Change {
	n := rapid.IntRange(1, 6).Draw(t, "changes")
	drawVersion := rapid.Custom(func(t *rapid.T) Version {
		return ver(rapid.Uint64Range(1, 12).Draw(t, "hlc"), rapid.SampledFrom([]string{"dev-a", "dev-b", ServerActor}).Draw(t, "actor"))
	})
	versions := rapid.SliceOfNDistinct(drawVersion, n, n, rapid.ID[Version]).Draw(t, "versions")
	changes := make([]Change, n)
	for i, at := range versions {
		changes[i] = drawChange(t, rt, at)
	}
	return changes
}

func drawChange(t *rapid.T, rt *RecordType, at Version) Change {
	if rapid.IntRange(0, 4).Draw(t, "delete") == 0 {
		return del(at)
	}
	ch := Change{At: at, Server: rapid.Bool().Draw(t, "server"), Value: rt.New()}
	for _, f := range rt.ordered {
		if (f.Merge == server && !ch.Server) || rapid.IntRange(0, 2).Draw(t, "masked") != 0 {
			continue
		}
		ch.Fields = append(ch.Fields, string(f.Desc.Name()))
		if rapid.IntRange(0, 3).Draw(t, "cleared") != 0 {
			drawField(t, rt, f.Desc, ch.Value.ProtoReflect())
		}
	}
	return ch
}

// drawField sets fd of m to a value from small pools, so that values and
// union elements collide often.
func drawField(t *rapid.T, rt *RecordType, fd protoreflect.FieldDescriptor, m protoreflect.Message) {
	switch {
	case fd == rt.Status:
		m.Set(fd, protoreflect.ValueOfEnum(protoreflect.EnumNumber(rapid.IntRange(0, 1).Draw(t, "status"))))
	case fd.IsList():
		list := m.Mutable(fd).List()
		for range rapid.IntRange(1, 3).Draw(t, "elements") {
			list.Append(drawScalar(t, fd, list.NewElement()))
		}
	case !fd.IsMap():
		m.Set(fd, drawScalar(t, fd, m.NewField(fd)))
	}
}

// drawScalar draws a value of fd's kind; for messages it fills the scalar
// fields of empty, a new message value.
func drawScalar(t *rapid.T, fd protoreflect.FieldDescriptor, empty protoreflect.Value) protoreflect.Value {
	small := func() int { return rapid.IntRange(0, 2).Draw(t, "number") }
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rapid.Bool().Draw(t, "bool"))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(fd.Enum().Values().Get(small() % fd.Enum().Values().Len()).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(small()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(small()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(small()))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "string"))
	case protoreflect.MessageKind:
		sub := empty.Message()
		fields := sub.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); !f.IsList() && !f.IsMap() && f.Message() == nil && rapid.Bool().Draw(t, "sub") {
				sub.Set(f, drawScalar(t, f, protoreflect.Value{}))
			}
		}
		return empty
	}
	panic(fmt.Sprintf("drawScalar: no generator for %v", fd.Kind()))
}

func drawRecordType(t *rapid.T) *RecordType {
	var names []string
	for _, rt := range DefaultRegistry().Types() {
		names = append(names, string(rt.Name))
	}
	rt, _ := DefaultRegistry().Lookup(rapid.SampledFrom(names).Draw(t, "type"))
	return rt
}

// oracleValue restates the merge rules on the whole history: an LWW field
// holds the value of the newest edit or delete that touched it; a union
// field holds the elements of edits newer than the newest delete, ordered
// by each element's newest edit, then its place in that edit.
func oracleValue(rt *RecordType, changes []Change) proto.Message {
	out := rt.New().ProtoReflect()
	var lastDelete Version
	for _, ch := range changes {
		if ch.Delete {
			lastDelete = maxVersion(lastDelete, ch.At)
		}
	}
	for name, f := range rt.Fields {
		touches := func(ch Change) bool { return ch.Delete || slices.Contains(ch.Fields, name) }
		if f.Merge == union {
			oracleUnion(out, f.Desc, changes, lastDelete)
			continue
		}
		var newest *Change
		for i, ch := range changes {
			if touches(ch) && (newest == nil || newest.At.Less(ch.At)) {
				newest = &changes[i]
			}
		}
		if newest != nil && !newest.Delete {
			copyField(out, newest.Value.ProtoReflect(), f.Desc)
		}
	}
	return out.Interface()
}

func oracleUnion(out protoreflect.Message, fd protoreflect.FieldDescriptor, changes []Change, lastDelete Version) {
	type occurrence struct {
		v   protoreflect.Value
		at  Version
		pos int
	}
	var occs []occurrence
	for _, ch := range changes {
		if ch.Delete || !slices.Contains(ch.Fields, string(fd.Name())) || ch.At.Less(lastDelete) {
			continue
		}
		list := ch.Value.ProtoReflect().Get(fd).List()
		for pos := range list.Len() {
			i := slices.IndexFunc(occs, func(o occurrence) bool { return sameElement(fd, o.v, list.Get(pos)) })
			switch {
			case i < 0:
				occs = append(occs, occurrence{list.Get(pos), ch.At, pos})
			case occs[i].at.Less(ch.At):
				occs[i] = occurrence{list.Get(pos), ch.At, pos}
			}
		}
	}
	sort.Slice(occs, func(i, j int) bool {
		if occs[i].at != occs[j].at {
			return occs[i].at.Less(occs[j].at)
		}
		return occs[i].pos < occs[j].pos
	})
	for _, o := range occs {
		out.Mutable(fd).List().Append(o.v)
	}
}

// sameElement compares list elements the plain way: proto.Equal for
// messages, == for the rest.
func sameElement(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	if fd.Message() != nil {
		return proto.Equal(a.Message().Interface(), b.Message().Interface())
	}
	return a.Equal(b)
}

func TestMergeConvergesInEveryOrderProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		rt := drawRecordType(t)
		changes := drawChanges(t, rt)
		first, _ := mergeAll(t, rt, nil, changes...)
		if want := oracleValue(rt, changes); !proto.Equal(first.Value, want) {
			t.Fatalf("merged value\n%v\nwant (oracle)\n%v", first.Value, want)
		}
		for range 3 {
			order := rapid.Permutation(changes).Draw(t, "order")
			if st, _ := mergeAll(t, rt, nil, order...); stateDiff(first, st) != "" {
				t.Fatalf("another order converged elsewhere: %s", stateDiff(first, st))
			}
		}
	})
}

func TestMergeNeverDropsAValueSilentlyProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		rt := drawRecordType(t)
		changes := rapid.Permutation(drawChanges(t, rt)).Draw(t, "order")
		var cur *State
		for _, ch := range changes {
			next, losses, err := rt.Merge(cur, ch)
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			before := rt.New().ProtoReflect()
			if cur != nil {
				before = cur.Value.ProtoReflect()
			}
			for _, f := range rt.ordered {
				if msg := checkAccounted(rt, f, before, next, ch, losses); msg != "" {
					t.Fatalf("change at %v, field %s: %s", ch.At, f.Desc.Name(), msg)
				}
			}
			cur = next
		}
	})
}

// checkAccounted says what went missing in one merge step, or "": every
// incoming value (or union element) of the mask is in the new state or in a
// Loss of its field; every value a delete removes is in a Loss; a field
// outside the mask of an edit does not change.
func checkAccounted(rt *RecordType, f *FieldSpec, before protoreflect.Message, next *State, ch Change, losses []Loss) string {
	fd, after := f.Desc, next.Value.ProtoReflect()
	var lost []protoreflect.Message
	for _, l := range losses {
		if l.Field == string(fd.Name()) {
			lost = append(lost, l.Losing.ProtoReflect())
		}
	}
	switch {
	case ch.Delete:
		return missingFrom(rt, fd, before, after, lost)
	case !slices.Contains(ch.Fields, string(fd.Name())):
		if !rt.fieldEqual(before, after, fd) {
			return "changed though not in the mask"
		}
		return ""
	}
	return missingFrom(rt, fd, ch.Value.ProtoReflect(), after, lost)
}

// missingFrom says which value of src is neither in after nor in lost.
func missingFrom(rt *RecordType, fd protoreflect.FieldDescriptor, src, after protoreflect.Message, lost []protoreflect.Message) string {
	if !fd.IsList() || rt.Fields[string(fd.Name())].Merge != union {
		if rt.fieldEqual(src, after, fd) || slices.ContainsFunc(lost, func(l protoreflect.Message) bool { return rt.fieldEqual(src, l, fd) }) {
			return ""
		}
		return fmt.Sprintf("value %v is neither kept nor in a loss", src.Get(fd))
	}
	in := func(m protoreflect.Message, v protoreflect.Value) bool {
		list := m.Get(fd).List()
		for i := range list.Len() {
			if sameElement(fd, list.Get(i), v) {
				return true
			}
		}
		return false
	}
	list := src.Get(fd).List()
	for i := range list.Len() {
		if !in(after, list.Get(i)) && !slices.ContainsFunc(lost, func(l protoreflect.Message) bool { return in(l, list.Get(i)) }) {
			return fmt.Sprintf("element %v is neither kept nor in a loss", list.Get(i))
		}
	}
	return ""
}

func TestMergeConvergesForEveryPermutationOfAMixedHistory(t *testing.T) {
	t.Parallel()
	rt := recordType(t, "Visit")
	changes := []Change{
		set(&fieldsyncv1.Visit{Notes: "a", CustomerId: "c1", ActionTags: []string{"x"}}, ver(10, "dev-a"), "notes", "customer_id", "action_tags"),
		set(&fieldsyncv1.Visit{ActionTags: []string{"y"}}, ver(20, "dev-b"), "action_tags"),
		del(ver(15, "dev-b")),
		set(&fieldsyncv1.Visit{Notes: "b", ActionTags: []string{"z", "x"}}, ver(30, "dev-a"), "notes", "action_tags"),
		set(&fieldsyncv1.Visit{CustomerId: "c2"}, ver(12, "dev-a"), "customer_id"),
		{Fields: []string{"high_value"}, Value: &fieldsyncv1.Visit{HighValue: true}, At: ver(25, ServerActor), Server: true},
	}
	want := &fieldsyncv1.Visit{Notes: "b", ActionTags: []string{"y", "z", "x"}, HighValue: true}
	count := 0
	for order := range permutations(changes) {
		st, _ := mergeAll(t, rt, nil, order...)
		if !proto.Equal(st.Value, want) || st.Deleted() || st.DeletedAt != ver(15, "dev-b") {
			t.Fatalf("order %d: value %v (deleted %v at %v), want %v", count, st.Value, st.Deleted(), st.DeletedAt, want)
		}
		count++
	}
	if count != 720 {
		t.Fatalf("tried %d orders, want 720", count)
	}
}

// permutations yields every ordering of s (Heap's algorithm).
func permutations[E any](s []E) func(yield func([]E) bool) {
	return func(yield func([]E) bool) {
		a := slices.Clone(s)
		var gen func(k int) bool
		gen = func(k int) bool {
			if k <= 1 {
				return yield(slices.Clone(a))
			}
			for i := range k {
				if !gen(k - 1) {
					return false
				}
				if i < k-1 {
					j := 0
					if k%2 == 0 {
						j = i
					}
					a[j], a[k-1] = a[k-1], a[j]
				}
			}
			return true
		}
		gen(len(a))
	}
}

// TestCreateEqualsTheGeneralMergeProperty checks Merge's shortcut for an
// edit creating a record against the field by field merge it skips: the
// same state (value, field and element versions, created version), no
// losses, the same error, for every record type, with repeated union
// elements, unknown fields and another representation of the type.
func TestCreateEqualsTheGeneralMergeProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		rt := drawRecordType(t)
		at := ver(rapid.Uint64Range(1, 12).Draw(t, "hlc"), rapid.SampledFrom([]string{"dev-a", ServerActor}).Draw(t, "actor"))
		ch := drawChange(t, rt, at)
		if ch.Delete {
			ch = Change{At: at, Value: rt.New(), Server: true}
		}
		if rapid.Bool().Draw(t, "duplicate union elements") {
			for _, f := range rt.ordered {
				if m := ch.Value.ProtoReflect(); f.Merge == union && m.Has(f.Desc) {
					list := m.Mutable(f.Desc).List()
					list.Append(list.Get(0))
				}
			}
		}
		if rapid.Bool().Draw(t, "unknown fields") {
			ch.Value.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0xff, 0x03, 0x01}) // field 8191, varint 1
		}
		if rapid.Bool().Draw(t, "dynamicpb") {
			b, err := proto.Marshal(ch.Value)
			if err != nil {
				t.Fatal(err)
			}
			dyn := dynamicpb.NewMessage(rt.Desc)
			if err := proto.Unmarshal(b, dyn); err != nil {
				t.Fatal(err)
			}
			ch.Value = dyn
		}
		in := proto.Clone(ch.Value)
		specs, err := rt.checkChange(nil, ch)
		if err != nil {
			t.Skip("refused before merging:", err)
		}
		got, err := rt.create(specs, ch)
		want, losses, wantErr := rt.merge(nil, ch, specs)
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("create error %v, merge error %v", err, wantErr)
		case err != nil:
			return
		case len(losses) != 0:
			t.Fatalf("merge of a create lost %v", losses)
		}
		if diff := stateDiff(got, want); diff != "" || got.Created != want.Created || got.Deleted() || len(got.Value.ProtoReflect().GetUnknown()) > 0 {
			t.Fatalf("create differs from merge: %s (created %v vs %v)", diff, got.Created, want.Created)
		}
		if !proto.Equal(in, ch.Value) {
			t.Fatal("create changed the change's value")
		}
		if !bytes.Equal(mustMarshal(t, got.Value), mustMarshal(t, want.Value)) {
			t.Fatal("create and merge encode differently")
		}
	})
}

func mustMarshal(t *rapid.T, m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
