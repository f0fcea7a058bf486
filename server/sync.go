package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/wirecost"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// SyncBackend is the sync engine as the sync service uses it.
type SyncBackend interface {
	Registry() *syncengine.Registry
	Push(ctx context.Context, p *syncengine.Principal, muts []syncengine.Mutation) (*syncengine.PushResult, error)
	Pull(ctx context.Context, p *syncengine.Principal, cursor string, limit int) (*syncengine.PullResult, error)
	PullAhead(ctx context.Context, p *syncengine.Principal, cursor string, limit int) (*syncengine.PullResult, error)
	Watch(ctx context.Context, p *syncengine.Principal, cursor string, send func(syncengine.WatchEvent) error) error
	ListConflicts(ctx context.Context, p *syncengine.Principal, recordID string, afterID uint64, limit int) ([]*fieldsyncv1.Conflict, error)
	Deliveries(ctx context.Context, p *syncengine.Principal, recordID string) ([]syncengine.Delivery, error)
	Ack(ctx context.Context, p *syncengine.Principal, cursor string, storedAt time.Time) (time.Time, error)
}

var _ SyncBackend = (*syncengine.Engine)(nil)

type syncHandler struct {
	cfg *Config
}

func (h *syncHandler) Push(ctx context.Context, req *connect.Request[fieldsyncv1.PushRequest]) (*connect.Response[fieldsyncv1.PushResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTypeURLs(req.Msg.GetMutations()); err != nil {
		return nil, err
	}
	reg := h.cfg.Sync.Registry()
	muts := make([]syncengine.Mutation, len(req.Msg.GetMutations()))
	for i, m := range req.Msg.GetMutations() {
		muts[i] = MutationFromWire(reg, m)
	}
	res, err := h.cfg.Sync.Push(ctx, p, muts)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	h.reportStatus(ctx, p, req.Msg.GetStatus(), false)
	return connect.NewResponse(&fieldsyncv1.PushResponse{
		Results: res.Results, ServerHlc: uint64(res.ServerHLC), LastSeq: res.LastSeq,
	}), nil
}

// maxTypeURL bounds the type_url of a mutation's value, which a rejection
// quotes back (protovalidate has no length rule for an Any).
const maxTypeURL = 256

// checkTypeURLs refuses a batch in which a value's type_url is too long.
func checkTypeURLs(muts []*fieldsyncv1.Mutation) error {
	for i, m := range muts {
		if len(m.GetValue().GetTypeUrl()) > maxTypeURL {
			return connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("mutations[%d].value.type_url: longer than %d bytes", i, maxTypeURL))
		}
	}
	return nil
}

// MutationFromWire decodes a wire mutation. Problems with one mutation are
// kept in DecodeErr, so the engine rejects it without failing the batch.
func MutationFromWire(reg *syncengine.Registry, m *fieldsyncv1.Mutation) syncengine.Mutation {
	out := syncengine.Mutation{
		Seq: m.GetSeq(), Type: m.GetRecordType(), RecordID: m.GetRecordId(),
		Fields: m.GetFieldMask().GetPaths(), Delete: m.GetDelete(), HLC: syncengine.HLC(m.GetHlc()),
	}
	rt, ok := reg.Lookup(out.Type)
	if !ok || out.Delete {
		return out // the engine rejects unknown types; deletes carry no value
	}
	out.DecodeErr = decodeValue(rt, m, &out)
	return out
}

func decodeValue(rt *syncengine.RecordType, m *fieldsyncv1.Mutation, out *syncengine.Mutation) error {
	if len(out.Fields) == 0 {
		return fmt.Errorf("field_mask: name at least one field to change")
	}
	v := m.GetValue()
	if v == nil {
		return fmt.Errorf("value: required unless the mutation is a delete")
	}
	if name := v.GetTypeUrl()[strings.LastIndexByte(v.GetTypeUrl(), '/')+1:]; name != string(rt.Name) {
		return fmt.Errorf("value: holds %q but record_type is %q", name, rt.Name)
	}
	msg := rt.New()
	if err := wirecost.Proto(msg.ProtoReflect().Descriptor(), v.GetValue()); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if err := proto.Unmarshal(v.GetValue(), msg); err != nil {
		return fmt.Errorf("value: cannot decode %s: %v", rt.Name, err)
	}
	out.Value = msg
	return nil
}

func (h *syncHandler) Pull(ctx context.Context, req *connect.Request[fieldsyncv1.PullRequest]) (*connect.Response[fieldsyncv1.PullResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	pull := h.cfg.Sync.Pull
	if req.Msg.GetAhead() {
		pull = h.cfg.Sync.PullAhead
	}
	res, err := pull(ctx, p, req.Msg.GetCursor(), int(req.Msg.GetLimit()))
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	h.reportStatus(ctx, p, req.Msg.GetStatus(), !res.HasMore)
	return connect.NewResponse(&fieldsyncv1.PullResponse{
		Records: res.Records, NextCursor: res.NextCursor, HasMore: res.HasMore,
	}), nil
}

// Watch holds the stream until the client leaves, the engine closes, or the
// server ends it: the caller's token revoked (at once from this server;
// seen at the next heartbeat when revoked elsewhere) or the caller opened
// more streams than Limits allow.
//
// The heartbeat's token check (a store read) runs beside the stream, not
// in its way: a poke is never held up behind it, and a failed check ends
// the stream with its error. One check per stream runs at a time.
func (h *syncHandler) Watch(ctx context.Context, req *connect.Request[fieldsyncv1.WatchRequest], stream *connect.ServerStream[fieldsyncv1.WatchResponse]) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	token, err := bearerToken(req.Header())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	var checks sync.WaitGroup
	var checking atomic.Bool
	defer func() {
		cancel(nil)
		checks.Wait()
	}()
	done, err := h.cfg.watches.add(p.TenantID, principalKey(p), cancel)
	if err != nil {
		return err
	}
	defer done()
	first := true
	err = h.cfg.Sync.Watch(ctx, p, req.Msg.GetCursor(), func(ev syncengine.WatchEvent) error {
		if ev.Version > 0 {
			return stream.Send(&fieldsyncv1.WatchResponse{Event: &fieldsyncv1.WatchResponse_Poke{Poke: &fieldsyncv1.Poke{Version: ev.Version}}})
		}
		if !first && checking.CompareAndSwap(false, true) {
			checks.Go(func() {
				defer checking.Store(false)
				if _, err := authenticateToken(ctx, h.cfg.Auth, token); err != nil && ctx.Err() == nil {
					cancel(toConnect(ctx, h.cfg.Logger, err))
				}
			})
		}
		first = false
		return stream.Send(&fieldsyncv1.WatchResponse{Event: &fieldsyncv1.WatchResponse_Heartbeat{Heartbeat: &fieldsyncv1.Heartbeat{Time: timestamppb.New(ev.Heartbeat)}}})
	})
	var ended *connect.Error
	if err == nil && errors.As(context.Cause(ctx), &ended) {
		return ended
	}
	return toConnect(ctx, h.cfg.Logger, err)
}

func (h *syncHandler) ListConflicts(ctx context.Context, req *connect.Request[fieldsyncv1.ListConflictsRequest]) (*connect.Response[fieldsyncv1.ListConflictsResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := h.cfg.Sync.ListConflicts(ctx, p, req.Msg.GetRecordId(), req.Msg.GetAfterId(), int(req.Msg.GetLimit()))
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.ListConflictsResponse{Conflicts: cs}), nil
}

// Ack records the calling device's delivery receipt (see syncengine.Engine.Ack).
func (h *syncHandler) Ack(ctx context.Context, req *connect.Request[fieldsyncv1.AckRequest]) (*connect.Response[fieldsyncv1.AckResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	at, err := h.cfg.Sync.Ack(ctx, p, req.Msg.GetCursor(), req.Msg.GetStoredTime().AsTime())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.AckResponse{ReceiptTime: timestamppb.New(at)}), nil
}

func (h *syncHandler) GetDeliveries(ctx context.Context, req *connect.Request[fieldsyncv1.GetDeliveriesRequest]) (*connect.Response[fieldsyncv1.GetDeliveriesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := h.cfg.Sync.Deliveries(ctx, p, req.Msg.GetRecordId())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res := &fieldsyncv1.GetDeliveriesResponse{}
	for _, d := range ds {
		res.Deliveries = append(res.Deliveries, &fieldsyncv1.Delivery{
			DeviceId: d.DeviceID, UserId: d.UserID, Version: d.Version, DeliveryTime: timestamp(d.Delivered),
		})
	}
	return connect.NewResponse(res), nil
}
