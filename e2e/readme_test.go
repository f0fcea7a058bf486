package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/photos/photostest"
)

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line   int    // of the opening fence
	text   string // the commands
	notRun string // the reason after "<!-- not-run", when the block is marked so
}

// readmeBlocks returns README.md's sh blocks. A block whose fence follows a
// line starting "<!-- not-run" is marked as not runnable.
func readmeBlocks(readme string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	lines := strings.Split(readme, "\n")
	prev := ""
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			if t := strings.TrimSpace(lines[i]); t != "" {
				prev = t
			}
			continue
		}
		b := readmeBlock{line: i + 1}
		if r, ok := strings.CutPrefix(prev, "<!-- not-run"); ok {
			b.notRun = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(r), ":"), "-->"))
			if b.notRun == "" {
				b.notRun = "marked not-run"
			}
		}
		j := i + 1
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README.md:%d: unclosed ```sh block", b.line)
		}
		b.text = strings.Join(lines[i+1:j], "\n")
		blocks = append(blocks, b)
		i, prev = j, "```"
	}
	return blocks, nil
}

// TestReadmeCommandsRun runs every ```sh block of README.md, in order and in
// one shell session as a reader would, against a fieldsyncd built from this
// checkout with --demo on a free port. The server address, `go run
// ./cmd/fieldsync` and .tools/bin/buf are replaced by the test's server,
// binary and the repository's buf. A command that fails fails the test.
func TestReadmeCommandsRun(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("README commands need %s, which is not installed (apt-get install %s)", tool, tool)
		}
	}
	buf := filepath.Join(root, ".tools", "bin", "buf")
	if _, err := os.Stat(buf); err != nil {
		t.Skipf("README commands need %s: run make tools", buf)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/fieldsyncd", "./cmd/fieldsync")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	url := startFieldsyncd(t, filepath.Join(bin, "fieldsyncd"), work)
	// The photo the README attaches (a reader brings their own).
	if err := os.WriteFile(filepath.Join(work, "pre-op.jpg"), photostest.JPEG(300<<10, 1), 0o600); err != nil {
		t.Fatal(err)
	}

	script := []string{"set -euo pipefail", `trap 'echo "FAILED at README.md:$readme_line: $BASH_COMMAND" >&2' ERR`}
	ran := 0
	for _, b := range blocks {
		if b.notRun != "" {
			t.Logf("README.md:%d not run (%s)", b.line, b.notRun)
			continue
		}
		ran++
		text := strings.NewReplacer(
			"http://127.0.0.1:8080", url,
			"go run ./cmd/fieldsync", filepath.Join(bin, "fieldsync"),
			".tools/bin/buf", buf,
		).Replace(b.text)
		script = append(script, fmt.Sprintf("readme_line=%d; echo '### README.md:%d' >&2", b.line, b.line), text)
	}
	if ran == 0 {
		t.Fatalf("no runnable sh block found in README.md")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", strings.Join(script, "\n"))
	sh.Dir, sh.Env = work, readmeEnv()
	out, err := sh.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("README commands did not finish (one blocks? mark it <!-- not-run: why -->):\n%s", out)
	}
	if err != nil {
		t.Fatalf("a README command failed: %v\n%s", err, out)
	}
	t.Logf("%d README blocks ran", ran)
}

// readmeEnv is the test's environment without fieldsync settings of its
// own, and with the loopback server exempt from any HTTP proxy.
func readmeEnv() []string {
	env := []string{"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDSYNC_") && !strings.HasPrefix(strings.ToLower(kv), "no_proxy=") {
			env = append(env, kv)
		}
	}
	return env
}

var servingAddr = regexp.MustCompile(`msg="fieldsyncd serving" addr=(\S+)`)

// startFieldsyncd runs the binary with --demo on a free port with its data
// in work/data, and returns its URL once it serves.
func startFieldsyncd(t *testing.T, fieldsyncd, work string) string {
	t.Helper()
	cmd := exec.Command(fieldsyncd, "--demo", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--data-dir", filepath.Join(work, "data"))
	cmd.Env = readmeEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := servingAddr.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return "http://" + m[1]
		}
	}
	t.Fatalf("fieldsyncd did not start:\n%s", log.String())
	return ""
}

func TestReadmeBlocksHonourTheNotRunMarker(t *testing.T) {
	t.Parallel()
	md := "intro\n\n<!-- not-run: serves forever -->\n```sh\nmake run\n```\n\ntext\n```sh\na\nb\n```\n```go\nx\n```\n"
	blocks, err := readmeBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].notRun != "serves forever" || blocks[1].notRun != "" || blocks[1].text != "a\nb" || blocks[1].line != 9 {
		t.Fatalf("blocks = %+v", blocks)
	}
	if _, err := readmeBlocks("```sh\nrm -rf /\n"); err == nil {
		t.Fatal("an unclosed block was accepted")
	}
}
