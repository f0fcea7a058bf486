package server

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/storage"
	"github.com/fieldsync/fieldsync/syncengine"
)

// connectCodes maps each domain error code to its Connect code. This is the
// only place the translation happens.
var connectCodes = map[syncengine.Code]connect.Code{
	syncengine.CodeInternal:           connect.CodeInternal,
	syncengine.CodeInvalid:            connect.CodeInvalidArgument,
	syncengine.CodeNotFound:           connect.CodeNotFound,
	syncengine.CodeAlreadyExists:      connect.CodeAlreadyExists,
	syncengine.CodeUnauthenticated:    connect.CodeUnauthenticated,
	syncengine.CodePermissionDenied:   connect.CodePermissionDenied,
	syncengine.CodeSequenceGap:        connect.CodeAborted,
	syncengine.CodeResyncRequired:     connect.CodeFailedPrecondition,
	syncengine.CodeWrongOffset:        connect.CodeAborted,
	syncengine.CodeFailedPrecondition: connect.CodeFailedPrecondition,
	syncengine.CodeResourceExhausted:  connect.CodeResourceExhausted,
	syncengine.CodeDataLoss:           connect.CodeDataLoss,
	syncengine.CodeUnavailable:        connect.CodeUnavailable,
}

// errUnavailable is the whole message of a call that failed because the
// database is down: the cause (an address, a driver's text) is logged, not
// sent.
var errUnavailable = errors.New("the database is unavailable; retry later")

// toConnect turns any error into a Connect error: a store error wrapping
// storage.ErrUnavailable is Unavailable with a fixed message; domain errors
// keep their message and detail; anything else is logged here (once, at the
// edge) and answered as Internal without leaking its text. Context errors
// keep their meaning.
func toConnect(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, storage.ErrUnavailable) {
		log.WarnContext(ctx, "database unavailable", "err", err)
		return connect.NewError(connect.CodeUnavailable, errUnavailable)
	}
	var de *syncengine.Error
	if !errors.As(err, &de) || de.Code == syncengine.CodeInternal {
		switch {
		case errors.Is(err, context.Canceled):
			return connect.NewError(connect.CodeCanceled, err)
		case errors.Is(err, context.DeadlineExceeded):
			return connect.NewError(connect.CodeDeadlineExceeded, err)
		}
		log.ErrorContext(ctx, "internal error", "err", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	out := connect.NewError(connectCodes[de.Code], errors.New(de.Message))
	if msg, ok := de.Detail.(proto.Message); ok {
		if d, err := connect.NewErrorDetail(msg); err == nil {
			out.AddDetail(d)
		}
	}
	return out
}
