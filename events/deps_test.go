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
	const module = "github.com/fieldsync/fieldsync/"
	pkgs := []string{"events", "storage/sqlite", "syncengine", "photos", "insights", "records"}
	for _, pkg := range pkgs {
		out, err := exec.Command("go", "list", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		var nats []string
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/nats-io/") || dep == module+"events/nats" {
				nats = append(nats, dep)
			}
		}
		if len(nats) > 0 {
			t.Errorf("%s depends on %d NATS packages, such as %v", pkg, len(nats), nats[:min(len(nats), 3)])
		}
	}
}
