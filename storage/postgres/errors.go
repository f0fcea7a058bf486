package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fieldsync/fieldsync/storage"
)

// classify wraps *err with storage.ErrUnavailable when it means the
// database could not be reached or could not serve now (unavailable).
// Every exported method of DB defers it, so callers test one sentinel
// whatever failed inside; a transaction's callback errors pass through it
// too.
func classify(err *error) {
	if *err != nil && unavailable(*err) && !errors.Is(*err, storage.ErrUnavailable) {
		*err = fmt.Errorf("%w: %w", storage.ErrUnavailable, *err)
	}
}

// unavailable reports whether err is the database being down, restarting
// or unreachable rather than a fault of the statement or of fieldsync:
//   - a failed connection attempt (refused, reset, DNS, connect_timeout,
//     the server starting up or shutting down: 57P03);
//   - a server error of class 08 (connection exception), 57P01/57P02
//     (admin or crash shutdown), 57P03 (cannot connect now) or 53300 (too
//     many connections);
//   - a connection closed or broken mid-query (EOF, reset, broken pipe, a
//     network timeout, pgconn's "conn closed").
//
// The caller's own cancellation or deadline is not: the server answers it
// as Canceled or DeadlineExceeded.
func unavailable(err error) bool {
	if ce := (*pgconn.ConnectError)(nil); errors.As(err, &ce) {
		return true
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return len(pe.Code) == 5 && pe.Code[:2] == "08"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if ne := net.Error(nil); errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
