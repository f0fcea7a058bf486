package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/version"
)

func TestVersionFlagPrintsTheVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got := out.String(); !strings.HasPrefix(got, "fieldsyncd "+version.String()+" (go") {
		t.Fatalf("--version printed %q", got)
	}
}

func TestHelpHidesSecretsFromTheEnvironment(t *testing.T) {
	t.Setenv("FIELDSYNC_S3_SECRET_KEY", "very-secret-s3-key")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if help := errOut.String(); !strings.Contains(help, "-s3-secret-key") || strings.Contains(help, "very-secret-s3-key") {
		t.Fatalf("help:\n%s", help)
	}
}
