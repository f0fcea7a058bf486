package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fieldsync/fieldsync/storage"
)

func TestClassifyWrapsOnlyTheDatabaseBeingDown(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", pg("57P01"), true},
		{"crash shutdown", pg("57P02"), true},
		{"cannot connect now", pg("57P03"), true},
		{"too many connections", pg("53300"), true},
		{"connection failure", pg("08006"), true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"eof mid-query", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("exec: %w", pgconn.ErrConnClosed), true},
		{"unique violation", pg("23505"), false},
		{"serialization failure", pg("40001"), false},
		{"no rows", pgx.ErrNoRows, false},
		{"caller canceled", fmt.Errorf("query: %w", context.Canceled), false},
		{"caller deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			classify(&err)
			if got := errors.Is(err, storage.ErrUnavailable); got != tc.want {
				t.Fatalf("classify(%v) wraps ErrUnavailable: %v, want %v", tc.err, got, tc.want)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("classify(%v) = %v: lost the cause", tc.err, err)
			}
			again := err
			classify(&again)
			if again != err {
				t.Fatalf("classify twice wrapped twice: %v", again)
			}
		})
	}
}
