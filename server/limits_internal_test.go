package server

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"connectrpc.com/connect"
)

// TestClipErrorKeepsCodeAndMetaAndCutsTheMessage checks the last guard
// against errors that quote client input at length.
func TestClipErrorKeepsCodeAndMetaAndCutsTheMessage(t *testing.T) {
	long := connect.NewError(connect.CodeNotFound, errors.New("record "+strings.Repeat("é", 10<<10)+" not found"))
	long.Meta().Set("Retry-After", "3")
	for _, in := range []error{long, errors.New(strings.Repeat("x", 10<<10))} {
		out, ok := errors.AsType[*connect.Error](clipError(in))
		if !ok {
			t.Fatalf("%T is not a Connect error", out)
		}
		if msg := out.Message(); len(msg) > maxErrorMessage+len("…") || !utf8.ValidString(msg) {
			t.Errorf("message of %d bytes (valid UTF-8: %v)", len(msg), utf8.ValidString(msg))
		}
		if out.Code() != connect.CodeOf(in) {
			t.Errorf("code %v, want %v", out.Code(), connect.CodeOf(in))
		}
	}
	if got, _ := errors.AsType[*connect.Error](clipError(long)); got.Meta().Get("Retry-After") != "3" {
		t.Errorf("metadata lost")
	}
	short := connect.NewError(connect.CodeNotFound, errors.New("record r1 not found"))
	if clipError(short) != short {
		t.Errorf("a short error was rewritten")
	}
}
