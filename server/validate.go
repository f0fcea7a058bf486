package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
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
		return connect.NewError(connect.CodeInvalidArgument, errors.New(ViolationMessage(err)))
	}
	return nil
}

// ViolationMessage renders a protovalidate error as "field: message; …".
func ViolationMessage(err error) string {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	parts := make([]string, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		msg := v.Proto.GetMessage()
		switch {
		case path == "":
			parts = append(parts, msg)
		case strings.HasPrefix(msg, path):
			parts = append(parts, msg)
		default:
			parts = append(parts, path+": "+msg)
		}
	}
	return strings.Join(parts, "; ")
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
