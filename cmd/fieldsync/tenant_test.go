package main

import (
	"path/filepath"
	"testing"
)

func TestCLITenantCreateAndList(t *testing.T) {
	t.Parallel()
	d, _ := startServer(t)
	srv := "--server=" + d.URL()
	op := "--operator-token-file=" + filepath.Join(d.DataDir(), "operator-token")
	created := cli(t, 0, "tenant", "create", srv, op, "--name=Rival Co.", "--admin=Rival Admin")
	code := created["enrollmentCode"].(string)
	token := cli(t, 0, "enroll", srv, "--code="+code, "--name=admin laptop")["deviceToken"].(string)
	who := cli(t, 0, "whoami", srv, "--token="+token)
	if who["tenantName"] != "Rival Co." || who["role"] != "ROLE_ADMIN" {
		t.Fatalf("whoami = %v", who)
	}
	if n := len(cli(t, 0, "tenant", "list", srv, op)["tenants"].([]any)); n != 2 {
		t.Fatalf("%d tenants, want 2", n)
	}
	cli(t, 1, "tenant", "create", srv, op, "--admin=A")                                           // no --name: InvalidArgument
	cli(t, 1, "tenant", "list", srv, "--operator-token-file="+filepath.Join(t.TempDir(), "none")) // no token file
	cli(t, 2, "tenant")
}
