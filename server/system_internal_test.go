package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
)

// TestOperatorCheckReadsTheTokenHashOnEachCall: with OperatorTokenSHA256
// the token accepted is the one the function names at the call, so a
// token replaced in the database works at once and the old one stops; no
// token named refuses every call, and a failed read is Unavailable.
func TestOperatorCheckReadsTheTokenHashOnEachCall(t *testing.T) {
	first, second := "fso_"+strings.Repeat("a", 40), "fso_"+strings.Repeat("b", 40)
	var named string
	var readErr error
	op, err := newOperatorInterceptor(&SystemConfig{Tenants: struct{ TenantStore }{}, OperatorTokenSHA256: func(context.Context) ([]byte, error) {
		if named == "" {
			return nil, readErr
		}
		sum := sha256.Sum256([]byte(named))
		return sum[:], readErr
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		named, sent string
		readErr     error
		want        connect.Code // 0: admitted
	}{
		{first, first, nil, 0},
		{second, first, nil, connect.CodeUnauthenticated},
		{second, second, nil, 0},
		{"", second, nil, connect.CodeUnauthenticated},
		{"", "", nil, connect.CodeUnauthenticated},
		{second, second, errors.New("database down"), connect.CodeUnavailable},
	} {
		named, readErr = tc.named, tc.readErr
		h := http.Header{}
		if tc.sent != "" {
			h.Set("Authorization", "Bearer "+tc.sent)
		}
		err := op.check(context.Background(), h)
		if got := connect.CodeOf(err); (err == nil) != (tc.want == 0) || (err != nil && got != tc.want) {
			t.Errorf("database names %q, call sends %q (read error %v): %v, want code %v", tc.named, tc.sent, tc.readErr, err, tc.want)
		}
	}
	if _, err := newOperatorInterceptor(&SystemConfig{Tenants: struct{ TenantStore }{}, OperatorToken: "short"}); err == nil {
		t.Error("a 5-character static operator token was accepted")
	}
}
