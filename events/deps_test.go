package events_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestVocabularyAndDomainsDoNotLinkNATS checks that the event vocabulary,
// the store and the domain packages that speak it build without any
// github.com/nats-io package: NATS is linked only where events/nats is
// wired (internal/daemon, the CLI).
func TestVocabularyAndDomainsDoNotLinkNATS(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"events", "storage/sqlite", "syncengine", "photos", "insights", "records"} {
		if nats := depsWithPrefix(t, pkg, "github.com/nats-io/", module+"events/nats"); len(nats) > 0 {
			t.Errorf("%s depends on %d NATS packages, such as %v", pkg, len(nats), nats[:min(len(nats), 3)])
		}
	}
}

// TestNATSClientDoesNotLinkTheServer checks that events/nats (the relay,
// consumers, connection) builds without the NATS server, which only
// events/nats/embedded links: a client of an external server stays small.
func TestNATSClientDoesNotLinkTheServer(t *testing.T) {
	t.Parallel()
	if server := depsWithPrefix(t, "events/nats", "github.com/nats-io/nats-server/"); len(server) > 0 {
		t.Errorf("events/nats depends on %d NATS server packages, such as %v", len(server), server[:min(len(server), 3)])
	}
}

const module = "github.com/fieldsync/fieldsync/"

// depsWithPrefix returns the dependencies of the module's package pkg
// (go list -deps) that start with one of prefixes.
func depsWithPrefix(t *testing.T, pkg string, prefixes ...string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	var found []string
	for _, dep := range strings.Fields(string(out)) {
		for _, p := range prefixes {
			if strings.HasPrefix(dep, p) {
				found = append(found, dep)
				break
			}
		}
	}
	return found
}
