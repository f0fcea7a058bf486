package syncengine_test

import (
	"slices"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestRegistryFindsEachTypesPhotoFieldsInFieldOrder(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"fieldsync.v1.SurgerySupport":   {"pre_op_photo", "intra_op_photo", "post_op_count_photo"},
		"fieldsync.v1.Diagnosis":        {"photos"},
		"fieldsync.v1.Quote":            {"diagnosis_photo_sha256s"}, // photo_hash strings
		"fieldsync.v1.CampaignMaterial": {"attachments"},
		"fieldsync.v1.Alert":            {"photos"},
	}
	for _, rt := range syncengine.DefaultRegistry().Types() {
		var got []string
		for _, fd := range rt.PhotoFields {
			got = append(got, string(fd.Name()))
		}
		if !slices.Equal(got, want[string(rt.Name)]) || rt.HasPhotos() != (len(got) > 0) {
			t.Errorf("%s: PhotoFields %v (HasPhotos %v), want %v", rt.Name, got, rt.HasPhotos(), want[string(rt.Name)])
		}
	}
}

func TestPhotoHashesAreDistinctNonEmptyInFieldOrder(t *testing.T) {
	t.Parallel()
	ref := func(h string) *fieldsyncv1.PhotoRef { return &fieldsyncv1.PhotoRef{Sha256: h} }
	s := &fieldsyncv1.SurgerySupport{PreOpPhoto: ref("b"), IntraOpPhoto: ref(""), PostOpCountPhoto: ref("a")}
	d := &fieldsyncv1.Diagnosis{Photos: []*fieldsyncv1.PhotoRef{ref("c"), ref("a"), ref("c"), ref("")}}
	rtS, _ := syncengine.DefaultRegistry().Lookup("fieldsync.v1.SurgerySupport")
	rtD, _ := syncengine.DefaultRegistry().Lookup("fieldsync.v1.Diagnosis")
	for _, tc := range []struct {
		got, want []string
	}{
		{rtS.PhotoHashes(s), []string{"b", "a"}},
		{syncengine.PhotoHashes(s), []string{"b", "a"}},
		{rtD.PhotoHashes(d), []string{"c", "a"}},
		{syncengine.PhotoHashes(d), []string{"c", "a"}},
		{rtD.PhotoHashes(&fieldsyncv1.Diagnosis{}), nil},
		{syncengine.PhotoHashes(&fieldsyncv1.Visit{Notes: "no photos"}), nil},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("PhotoHashes = %q, want %q", tc.got, tc.want)
		}
	}
}
