package server

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// validateInterceptor checks every request message against its protovalidate
// rules before the handler sees it, answering InvalidArgument with a message
// naming each offending field.
type validateInterceptor struct {
	v protovalidate.Validator
}

func newValidateInterceptor() (*validateInterceptor, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	return &validateInterceptor{v: v}, nil
}

func (vi *validateInterceptor) check(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	var opts []protovalidate.ValidationOption
	if pr, ok := m.(*fieldsyncv1.PushRequest); ok && fieldMasksWithinLimits(pr) {
		opts = skipFieldMaskRule
	}
	if err := vi.v.Validate(m, opts...); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, errors.New(syncengine.ViolationMessage(err)))
	}
	return nil
}

func (vi *validateInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := vi.check(req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (vi *validateInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (vi *validateInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &validatingConn{StreamingHandlerConn: conn, vi: vi})
	}
}

type validatingConn struct {
	connect.StreamingHandlerConn
	vi *validateInterceptor
}

func (c *validatingConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	return c.vi.check(msg)
}

// Limits of a mutation's field mask, as its CEL rule "field_mask.paths_max"
// states them (sync.proto).
const (
	maxMaskPaths   = 256
	maxMaskPathLen = 256
)

// mutationFieldMask is Mutation.field_mask, whose only rule is the CEL
// rule "field_mask.paths_max".
var mutationFieldMask = (&fieldsyncv1.Mutation{}).ProtoReflect().Descriptor().Fields().ByName("field_mask")

// skipFieldMaskRule leaves Mutation.field_mask's CEL rule out of a
// validation. Evaluating it (an all() over the paths of each of up to 500
// mutations) cost a push about as much as the rest of the request's
// rules; fieldMasksWithinLimits checks the same in Go first, and only a
// request that passes it skips the rule, so a request that breaks it is
// answered by protovalidate itself, with the same message as before.
var skipFieldMaskRule = []protovalidate.ValidationOption{
	protovalidate.WithFilter(protovalidate.FilterFunc(func(_ protoreflect.Message, d protoreflect.Descriptor) bool {
		return d != mutationFieldMask
	})),
}

// fieldMasksWithinLimits reports whether every mutation's field mask keeps
// the rule "field_mask.paths_max": at most maxMaskPaths paths of at most
// maxMaskPathLen bytes each.
func fieldMasksWithinLimits(pr *fieldsyncv1.PushRequest) bool {
	for _, m := range pr.GetMutations() {
		paths := m.GetFieldMask().GetPaths()
		if len(paths) > maxMaskPaths {
			return false
		}
		for _, p := range paths {
			if len(p) > maxMaskPathLen {
				return false
			}
		}
	}
	return true
}
