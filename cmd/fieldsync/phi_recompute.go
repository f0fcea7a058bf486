package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

const phiRecomputeUsage = `usage: fieldsync phi recompute --tenant ID --from YYYY-MM-DD --to YYYY-MM-DD [--operator-token-file F]

Rebuilds a tenant's day-by-day PHI over stored records (after fieldsync import,
say) and evaluates the time-based alert rules as of the end of each day;
findings alerted before are not alerted again. Takes the operator token.`

// runPhiRecompute calls SystemService.RecomputePhi.
func runPhiRecompute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := newFlags("phi recompute", stderr)
	fs.StringVar(&c.server, "server", envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), "server base URL (env FIELDSYNC_SERVER)")
	fs.BoolVar(&c.grpc, "grpc", false, "use the gRPC protocol instead of Connect")
	tokenFile := fs.String("operator-token-file", envOr("FIELDSYNC_OPERATOR_TOKEN_FILE", defaultOperatorTokenFile),
		"file with the server's operator token (env FIELDSYNC_OPERATOR_TOKEN_FILE)")
	tenant := fs.String("tenant", "", "the tenant id (fieldsync tenant list)")
	from, to := fs.String("from", "", "first day, YYYY-MM-DD"), fs.String("to", "", "last day, YYYY-MM-DD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" || *from == "" || *to == "" {
		return fmt.Errorf("%w: --tenant, --from and --to are required\n%s", errUsage, phiRecomputeUsage)
	}
	b, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	c.token = strings.TrimSpace(string(b))
	s := fieldsyncv1connect.NewSystemServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
	res, err := s.RecomputePhi(ctx, connect.NewRequest(&fieldsyncv1.RecomputePhiRequest{TenantId: *tenant, FromDate: *from, ToDate: *to}))
	if err != nil {
		return err
	}
	return printJSON(stdout, res.Msg)
}
