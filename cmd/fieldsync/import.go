package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func init() { commands["import"] = runImport }

const importUsage = `usage: fieldsync import --type visits|diagnoses|commitments|opportunities --file x.csv
       [--rejects rejects.csv] [--batch 1000] [--request-id ID]

Loads a team's past records with the times they happened, with an API key
holding "history:import". The CSV's header names its columns: source_id (the
spreadsheet's own row id) and event_time (when the record was submitted),
then any fields of the record by their proto names (customer_id,
owner_user_id, visit_time, status, action_tags, …). Times are RFC 3339 or
YYYY-MM-DD[ HH:MM[:SS]] in UTC; enums take their short names (submitted,
clinical_director, open, won); lists are separated by ";". Rejected rows go to
--rejects (default: <file>.rejects.csv) as line,field,reason, with the rows
applied without some of their values (a submitted record keeps the fields
frozen after submit: counted in partly_applied). Re-running a file changes
nothing and reports its rows unchanged.`

// importSummary is what fieldsync import prints.
type importSummary struct {
	Rows      int    `json:"rows"`
	Calls     int    `json:"calls"`
	Replayed  int    `json:"replayed_calls"`
	Applied   uint32 `json:"applied"`
	Unchanged uint32 `json:"unchanged"`
	Rejected  uint32 `json:"rejected"`
	// PartlyApplied counts the applied rows some of whose values the
	// record did not take (also in Applied, and in the rejects file).
	PartlyApplied uint32 `json:"partly_applied"`
	RejectsFile   string `json:"rejects_file,omitempty"`
}

// importReject is one line of the reject report.
type importReject struct {
	line          int
	field, reason string
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := newFlags("import", stderr)
	c.register(fs)
	kind := fs.String("type", "", "visits, diagnoses, commitments or opportunities")
	file := fs.String("file", "", "CSV file of past records")
	rejects := fs.String("rejects", "", "where to write the rejected rows (default: <file>.rejects.csv)")
	batch := fs.Int("batch", 1000, "rows per call (at most 5000)")
	requestID := fs.String("request-id", "", "request id prefix; a retry with the same prefix replays the calls (default: new per run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if historyKinds[*kind] == nil || *file == "" || *batch < 1 || *batch > 5000 {
		return fmt.Errorf("%w: --type and --file are required, --batch must be 1..5000\n%s", errUsage, importUsage)
	}
	if err := c.needToken(); err != nil {
		return err
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	lines, err := parseHistoryCSV(data, *kind)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if *requestID == "" {
		*requestID = importRequestID(data, *kind)
	}
	client := fieldsyncv1connect.NewIntegrationServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
	sum, rejected, err := importHistory(ctx, client, lines, *batch, *requestID, newLoadBar(stderr, "import", int64(len(lines))))
	if err != nil {
		return err
	}
	if len(rejected) > 0 {
		sum.RejectsFile = *rejects
		if sum.RejectsFile == "" {
			sum.RejectsFile = *file + ".rejects.csv"
		}
		if err := writeRejects(sum.RejectsFile, rejected); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

// importRequestID is a request id prefix of this run: the file's hash and
// a random suffix, so a re-run sends new calls and reports what changed.
func importRequestID(data []byte, kind string) string {
	h := sha256.Sum256(append([]byte(kind+"\x00"), data...))
	return hex.EncodeToString(h[:8]) + "-" + rand.Text()[:10]
}

// importHistory sends the lines that decoded in calls of batch rows, the
// request id of call i being prefix-i, and sums the results; rejected
// lines (in the CSV or by the server) are returned in file order.
func importHistory(ctx context.Context, client fieldsyncv1connect.IntegrationServiceClient, lines []historyLine, batch int, prefix string, bar *loadBar) (*importSummary, []importReject, error) {
	sum := &importSummary{Rows: len(lines)}
	var rejected []importReject
	var rows []*fieldsyncv1.HistoryRow
	var lineOf []int
	for _, l := range lines {
		if l.row == nil {
			rejected = append(rejected, importReject{l.line, l.field, l.reason})
			sum.Rejected++
			continue
		}
		rows, lineOf = append(rows, l.row), append(lineOf, l.line)
	}
	bar.add(int64(len(lines) - len(rows)))
	defer bar.finish()
	for from := 0; from < len(rows); from += batch {
		chunk := rows[from:min(from+batch, len(rows))]
		req := &fieldsyncv1.ImportHistoryRequest{RequestId: fmt.Sprintf("%s-%d", prefix, sum.Calls), Rows: chunk}
		res, err := client.ImportHistory(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, nil, fmt.Errorf("lines %d–%d: %w", lineOf[from], lineOf[from+len(chunk)-1], err)
		}
		sum.Calls++
		if res.Msg.Replayed {
			sum.Replayed++
		}
		sum.Applied, sum.Unchanged, sum.Rejected = sum.Applied+res.Msg.Applied, sum.Unchanged+res.Msg.Unchanged, sum.Rejected+res.Msg.Rejected
		for _, r := range res.Msg.Results {
			partly := r.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED && len(r.KeptFields) > 0
			if partly {
				sum.PartlyApplied++
			}
			if (partly || r.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED) && int(r.Index) < len(chunk) {
				field, reason := rejectField(r.Reason)
				rejected = append(rejected, importReject{lineOf[from+int(r.Index)], field, reason})
			}
		}
		bar.add(int64(len(chunk)))
	}
	slices.SortStableFunc(rejected, func(a, b importReject) int { return a.line - b.line })
	return sum, rejected, nil
}

// rejectPath finds the field a server's reason names: "rows[3].visit.customer_id: …".
var rejectPath = regexp.MustCompile(`^rows\[\d+\]\.(?:(?:visit|diagnosis|commitment|opportunity)\.)?([a-z_]+)`)

// quotedField finds the field of a merge's reason: field "high_value" is ….
var quotedField = regexp.MustCompile(`field "([a-z_]+)"`)

// rejectField splits a server's reason into the column it names and the
// reason without the row prefix.
func rejectField(reason string) (string, string) {
	m := rejectPath.FindStringSubmatch(reason)
	if m == nil {
		return "", reason
	}
	rest := strings.TrimPrefix(reason, m[0][:strings.Index(m[0], ".")+1])
	if m[1] == "field" { // the merge's "field \"x\" is …"
		if f := quotedField.FindStringSubmatch(rest); f != nil {
			return f[1], rest
		}
	}
	return m[1], rest
}

// writeRejects writes the reject report: line,field,reason.
func writeRejects(path string, rejected []importReject) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"line", "field", "reason"})
	for _, r := range rejected {
		w.Write([]string{strconv.Itoa(r.line), r.field, r.reason})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
