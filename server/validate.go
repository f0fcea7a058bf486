package server

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

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
	if err := vi.v.Validate(m); err != nil {
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
