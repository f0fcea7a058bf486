package importrules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fieldsync/fieldsync"

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// domains are the domain packages (and their subpackages, except test
// helpers such as photos/photostest): no storage, no NATS, no wire stubs.
var domains = []string{"syncengine", "photos", "insights", "records"}

// allowed lists the imports that break a rule today, each with the reason;
// docs/architecture.md names them too. Remove an entry when it is fixed.
var allowed = map[string]string{}

// TestImportRules fails naming each import that breaks a rule of
// docs/architecture.md. Test files are excepted: go list without -test
// lists only what the binaries link.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	seen := map[string]bool{}
	for _, v := range check(pkgs) {
		seen[v.key] = true
		if _, ok := allowed[v.key]; !ok {
			t.Error(v)
		}
	}
	for k := range allowed {
		if !seen[k] {
			t.Errorf("%s is allowed as an exception but no longer happens: remove it from allowed and from docs/architecture.md", k)
		}
	}
}

// TestImportRulesCatch checks that each rule fires on a made-up violation,
// and stays quiet on the imports it allows.
func TestImportRulesCatch(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	pkgs := []pkg{
		{ImportPath: m("syncengine"), Imports: []string{m("internal/ids"), m("events")}, Deps: []string{m("internal/ids"), m("events")}},
		{ImportPath: m("photos"), Imports: []string{m("storage/media"), m("syncengine")}, Deps: []string{m("storage/media"), m("syncengine")}},
		{ImportPath: m("records"), Imports: []string{m("events/nats")}, Deps: []string{m("events/nats"), "github.com/nats-io/nats.go"}},
		{ImportPath: m("insights/alerts"), Imports: []string{"database/sql"}, Deps: []string{"database/sql"}},
		{ImportPath: m("photos/photostest"), Imports: []string{m("storage/sqlite")}, Deps: []string{m("storage/sqlite")}},
		{ImportPath: m("cmd/fieldsync"), Imports: []string{m("internal/daemon")}, Deps: []string{m("internal/daemon")}},
		{ImportPath: m("cmd/fieldsyncd"), Imports: []string{m("internal/daemon")}, Deps: []string{m("internal/daemon")}},
		{ImportPath: m("storage/sqlite"), Imports: []string{"connectrpc.com/connect"}, Deps: []string{"connectrpc.com/connect"}},
		{ImportPath: m("server"), Imports: []string{"connectrpc.com/connect"}, Deps: []string{"connectrpc.com/connect"}},
	}
	var got []string
	for _, v := range check(pkgs) {
		got = append(got, v.key)
	}
	want := []string{
		"records -> events/nats",
		"insights/alerts -> database/sql",
		"cmd/fieldsync -> internal/daemon",
		"storage/sqlite -> connectrpc.com/connect",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}

// violation is one import that breaks a rule.
type violation struct {
	key  string // "importer -> imported", module prefix trimmed
	via  string // the direct import that leads to a forbidden dependency
	rule string
}

func (v violation) String() string {
	s := v.key
	if v.via != "" {
		s += " (through " + v.via + ")"
	}
	return s + ": " + v.rule + " (docs/architecture.md, Import rules)"
}

// check applies every rule to pkgs, in their order.
func check(pkgs []pkg) []violation {
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var out []violation
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		if !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		if isDomain(name) {
			out = append(out, domainViolations(p, name, byPath)...)
		}
		for _, imp := range p.Imports {
			if r := edgeRule(name, imp); r != "" {
				out = append(out, violation{key: name + " -> " + trim(imp), rule: r})
			}
		}
	}
	return out
}

// domainViolations reports, once per direct import, the storage, NATS and
// wire dependencies a domain package pulls in.
func domainViolations(p pkg, name string, byPath map[string]pkg) []violation {
	var out []violation
	for _, imp := range p.Imports {
		if forbiddenInDomain(imp) {
			out = append(out, violation{key: name + " -> " + trim(imp), rule: domainRule})
			continue
		}
		for _, d := range byPath[imp].Deps {
			if forbiddenInDomain(d) {
				out = append(out, violation{key: name + " -> " + trim(imp), via: trim(d), rule: domainRule})
				break
			}
		}
	}
	return out
}

const domainRule = "domain packages import no storage, no NATS and no Connect stubs"

// isDomain reports whether name (module-relative) is a domain package; test
// helper packages (…test) are excepted.
func isDomain(name string) bool {
	for _, d := range domains {
		if name == d || strings.HasPrefix(name, d+"/") && !strings.HasSuffix(name, "test") {
			return true
		}
	}
	return false
}

// forbiddenInDomain reports whether a domain package may not depend on path.
// storage/media is allowed: it holds the media store interface and no backend.
func forbiddenInDomain(path string) bool {
	rel, ours := strings.CutPrefix(path, module+"/")
	if ours {
		return rel != "storage/media" && strings.HasPrefix(rel, "storage/") ||
			rel == "events/nats" || strings.HasPrefix(rel, "events/nats/") ||
			slices.Contains([]string{"server", "internal/daemon", "proto/fieldsync/v1/fieldsyncv1connect"}, rel) ||
			strings.HasPrefix(rel, "clients/")
	}
	for _, p := range []string{"database/sql", "modernc.org/sqlite", "github.com/nats-io", "github.com/minio", "connectrpc.com"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// edgeRule returns the rule a direct import from name breaks, or "".
func edgeRule(name, imp string) string {
	switch {
	case imp == module+"/internal/daemon" && name != "cmd/fieldsyncd":
		return "only cmd/fieldsyncd imports internal/daemon"
	case (imp == "connectrpc.com/connect" || imp == module+"/proto/fieldsync/v1/fieldsyncv1connect") && !atEdge(name):
		return "only server/, clients/, cmd/ and internal/daemon speak Connect"
	}
	return ""
}

// atEdge reports whether name may import the Connect runtime and stubs.
func atEdge(name string) bool {
	for _, p := range []string{"server", "clients", "cmd", "internal/daemon", "proto"} {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

func trim(path string) string { return strings.TrimPrefix(path, module+"/") }

// listPackages runs go list -deps -json over the module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}
