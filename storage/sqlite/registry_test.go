package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// noteRegistry is a registry of one record type built at run time,
// fstest.v1.Note: an owner and a text.
func noteRegistry(t *testing.T) *syncengine.Registry {
	t.Helper()
	owner := &descriptorpb.FieldOptions{}
	proto.SetExtension(owner, fieldsyncv1.E_Field, &fieldsyncv1.FieldSyncOptions{Scope: fieldsyncv1.ScopeKey_SCOPE_KEY_OWNER})
	msg := &descriptorpb.MessageOptions{}
	proto.SetExtension(msg, fieldsyncv1.E_Record, &fieldsyncv1.RecordOptions{Record: true})
	str, opt := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("fstest/v1/note.proto"), Package: proto.String("fstest.v1"), Syntax: proto.String("proto3"),
		Dependency: []string{"fieldsync/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Note"), Options: msg, Field: []*descriptorpb.FieldDescriptorProto{
			{Name: proto.String("owner_user_id"), Number: proto.Int32(1), Type: str, Label: opt, Options: owner},
			{Name: proto.String("text"), Number: proto.Int32(2), Type: str, Label: opt},
		}}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
	reg, err := syncengine.NewRegistry(files)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestStoreDecodesRecordsWithTheRegistryItIsGiven: a store opened
// WithRegistry reads back a record type only that registry knows; the same
// file opened with the default registry cannot decode it.
func TestStoreDecodesRecordsWithTheRegistryItIsGiven(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	reg := noteRegistry(t)
	db, err := sqlite.Open(ctx, path, sqlite.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rt, ok := reg.Lookup("fstest.v1.Note")
	if !ok {
		t.Fatal("no Note type")
	}
	note := rt.New()
	note.ProtoReflect().Set(rt.Desc.Fields().ByName("text"), protoreflect.ValueOfString("remember the milk"))
	at := syncengine.Version{HLC: 1, Actor: "dev"}
	rec := &syncengine.StoredRecord{TenantID: "t", ID: "n1", Type: "fstest.v1.Note", Scope: syncengine.Scope{Owner: "u"},
		HLC: 1, Actor: "dev", UpdatedAt: time.UnixMilli(1000),
		State: &syncengine.State{Value: note, Fields: map[string]syncengine.Version{"text": at}, Created: at}}
	err = db.Update(ctx, func(tx syncengine.Tx) error {
		_, err := tx.PutRecord(rec, nil)
		return err
	})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	got, err := db.GetRecords(ctx, "t", []string{"n1"})
	if err != nil || got["n1"] == nil || !proto.Equal(got["n1"].State.Value, note) {
		t.Fatalf("GetRecords = %v, %v; want the note", got, err)
	}
	plain, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.GetRecords(ctx, "t", []string{"n1"}); err == nil || !strings.Contains(err.Error(), "unknown type") {
		t.Fatalf("GetRecords with the default registry: err = %v, want unknown type", err)
	}
}
