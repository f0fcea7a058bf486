package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func init() { commands["device"] = runDevice }

// defaultDeviceDB is where `fieldsync device` keeps its local store.
const defaultDeviceDB = "./fieldsync-device.db"

// deviceFlags are the flags every device subcommand takes.
type deviceFlags struct {
	db, server, token string
	grpc              bool
}

// register adds the flags with their current values as defaults.
func (f *deviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", f.db, "local device database file")
	fs.StringVar(&f.server, "server", f.server, "server base URL (env FIELDSYNC_SERVER)")
	fs.StringVar(&f.token, "token", f.token, "device token (env FIELDSYNC_TOKEN)")
	fs.BoolVar(&f.grpc, "grpc", f.grpc, "use the gRPC protocol instead of Connect")
}

// open opens the device's local store, connected to the server, with
// extra options.
func (f *deviceFlags) open(ctx context.Context, extra ...fieldsync.Option) (*fieldsync.Client, error) {
	opts := []fieldsync.Option{fieldsync.WithServer(strings.TrimSuffix(f.server, "/")), fieldsync.WithToken(f.token)}
	opts = append(opts, extra...)
	if f.grpc {
		opts = append(opts, fieldsync.WithProtocol(fieldsync.ProtocolGRPC))
	}
	return fieldsync.Open(ctx, f.db, opts...)
}

// deviceCommand is one `fieldsync device …` subcommand: it adds its flags
// to fs and returns what to run with the open client once they are parsed.
type deviceCommand struct {
	help  string
	setup func(fs *flag.FlagSet) deviceRun
}

// fileCommand is a `fieldsync device …` subcommand that works on the
// store's file without opening a client (which would refuse the token).
type fileCommand struct {
	help  string
	setup func(fs *flag.FlagSet) fileRun
}

// fileRun runs a subcommand on the store file db.
type fileRun = func(ctx context.Context, db string, out io.Writer) error

var deviceFileCommands = map[string]fileCommand{
	"reset": {"delete the local store to start over as another device: [--force] (refused while changes are unsynced)", setupReset},
}

// deviceRun runs a subcommand with the open client and its positional arguments.
type deviceRun = func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error

var deviceCommands = map[string]deviceCommand{
	"visit create": {"record a visit: --customer --notes [--kind] [--tags a,b] [--submit …]", setupVisitCreate},
	"visit edit":   {"edit a visit: <id> [--notes] [--kind] [--tags] [--customer] …", setupVisitEdit},
	"delete":       {"delete a record: --type Visit <id>", setupDelete},
	"list":         {"list local records: [--type Visit]", setupList},
	"sync":         {"push the outbox and pull changes", setupSync},
	"watch":        {"stay in sync until interrupted", setupWatch},
	"conflicts":    {"list the merge losses the server reported", setupConflicts},
	"rejections":   {"list the local changes the server refused", setupRejections},
	"status":       {"outbox depth, oldest pending write, last sync", setupStatus},
	"photo add":    {"attach a photo to a record and upload it: <record-id> <slot> <file> [--type T] [--offline]", setupPhotoAdd},
	"photos":       {"list the photo queue: queued, uploading, done, failed", setupPhotos},
}

// progressCommands draw a progress bar on stderr while they upload photos.
var progressCommands = map[string]bool{"photo add": true, "sync": true}

func deviceUsage() string {
	help := make(map[string]string, len(deviceCommands))
	for n, c := range deviceCommands {
		help[n] = c.help
	}
	for n, c := range deviceFileCommands {
		help[n] = c.help
	}
	var b strings.Builder
	writeSubcommands(&b, "device", help)
	fmt.Fprintf(&b, "\nEvery subcommand takes --db (default %s), --server, --token and --grpc;\nserver and token default to FIELDSYNC_SERVER and FIELDSYNC_TOKEN.\n", defaultDeviceDB)
	return b.String()
}

// runDevice runs `fieldsync device <args>`: a device with a local store
// (--db) that works offline and syncs with the server on demand.
func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, rest := deviceSubcommand(args)
	if fc, ok := deviceFileCommands[name]; ok {
		return runFileCommand(ctx, name, fc, rest, stdout, stderr)
	}
	cmd, ok := deviceCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown device subcommand %q\n%s", errUsage, strings.Join(args, " "), deviceUsage())
	}
	flags := deviceFlags{db: defaultDeviceDB, server: envOr("FIELDSYNC_SERVER", "http://127.0.0.1:8080"), token: os.Getenv("FIELDSYNC_TOKEN")}
	fs := newFlags("device "+name, stderr)
	flags.register(fs)
	run := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	// Warnings (Watch's reconnects while the server is unreachable) go to stderr.
	extra := []fieldsync.Option{fieldsync.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if progressCommands[name] {
		extra = append(extra, fieldsync.WithPhotoProgress(newProgressBar(stderr).update))
	}
	c, err := flags.open(ctx, extra...)
	if errors.Is(err, fieldsync.ErrWrongDevice) {
		return fmt.Errorf("%w\nto start %s over as the device of this token: fieldsync device reset --db %s (refused while changes are unsynced; --force drops them)", err, flags.db, flags.db)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return run(ctx, c, pos, stdout)
}

// runFileCommand runs a subcommand on the store file (--db).
func runFileCommand(ctx context.Context, name string, fc fileCommand, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("device "+name, stderr)
	flags := deviceFlags{db: defaultDeviceDB}
	flags.register(fs) // --server, --token and --grpc are taken and unused
	run := fc.setup(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: fieldsync device %s takes no arguments", errUsage, name)
	}
	return run(ctx, flags.db, stdout)
}

// setupReset deletes the store (fieldsync.Reset) and says what it did.
func setupReset(fs *flag.FlagSet) fileRun {
	force := fs.Bool("force", false, "delete the store even though changes or photos have not reached the server")
	return func(ctx context.Context, db string, out io.Writer) error {
		if err := fieldsync.Reset(ctx, db, *force); err != nil {
			if errors.Is(err, fieldsync.ErrUnsynced) {
				return fmt.Errorf("%w\nrun fieldsync device sync with the store's own token first, or pass --force to drop them", err)
			}
			return err
		}
		return json.NewEncoder(out).Encode(map[string]any{"reset": db})
	}
}

// parseInterspersed parses flags that may also follow positional
// arguments ("visit edit <id> --notes …") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// deviceSubcommand splits the subcommand name ("visit create") from its flags.
func deviceSubcommand(args []string) (string, []string) {
	switch {
	case len(args) == 0:
		return "", nil
	case (args[0] == "visit" || args[0] == "photo") && len(args) > 1:
		return args[0] + " " + args[1], args[2:]
	}
	return args[0], args[1:]
}

// visitFlags are the visit fields settable from the command line.
type visitFlags struct {
	fs                                  *flag.FlagSet
	customer, notes, kind, tags, status *string
	coreProblem, commitments, nextAppt  *string
	visitTime                           *string
}

func addVisitFlags(fs *flag.FlagSet) *visitFlags {
	return &visitFlags{
		fs:          fs,
		customer:    fs.String("customer", "", "customer record id"),
		notes:       fs.String("notes", "", "free notes"),
		kind:        fs.String("kind", "routine", "routine, clinical_director, procurement or store_customer"),
		tags:        fs.String("tags", "", "action tags, comma-separated (first_contact, price_negotiation, …)"),
		status:      fs.String("status", "draft", "draft or submitted"),
		coreProblem: fs.String("core-problem", "", "clinical-director visits: core problem solved"),
		commitments: fs.String("commitments", "", "clinical-director visits: follow-up commitments"),
		nextAppt:    fs.String("next-appointment", "", "clinical-director visits: next appointment (RFC 3339)"),
		visitTime:   fs.String("time", "", "visit time (RFC 3339; create defaults to now)"),
	}
}

// flagFields maps flag names to the Visit fields they set.
var flagFields = map[string]string{
	"customer": "customer_id", "notes": "notes", "kind": "kind", "tags": "action_tags", "status": "status",
	"core-problem": "core_problem_solved", "commitments": "follow_up_commitments",
	"next-appointment": "next_appointment_time", "time": "visit_time",
}

// visit builds the Visit the flags describe.
func (v *visitFlags) visit() (*fieldsyncv1.Visit, error) {
	out := &fieldsyncv1.Visit{
		CustomerId: *v.customer, Notes: *v.notes, ActionTags: splitList(*v.tags),
		CoreProblemSolved: *v.coreProblem, FollowUpCommitments: *v.commitments,
	}
	kind, ok := fieldsyncv1.VisitKind_value["VISIT_KIND_"+strings.ToUpper(*v.kind)]
	if !ok || kind == 0 {
		return nil, fmt.Errorf("--kind %q: want routine, clinical_director, procurement or store_customer", *v.kind)
	}
	status, ok := fieldsyncv1.RecordStatus_value["RECORD_STATUS_"+strings.ToUpper(*v.status)]
	if !ok || status == 0 {
		return nil, fmt.Errorf("--status %q: want draft or submitted", *v.status)
	}
	out.Kind, out.Status = fieldsyncv1.VisitKind(kind), fieldsyncv1.RecordStatus(status)
	var err error
	if out.VisitTime, err = parseTime("time", *v.visitTime); err != nil {
		return nil, err
	}
	out.NextAppointmentTime, err = parseTime("next-appointment", *v.nextAppt)
	return out, err
}

func parseTime(flagName, s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	return timestamppb.New(t), nil
}

// setFields lists the Visit fields of the flags given on the command line.
func (v *visitFlags) setFields() []string {
	var out []string
	v.fs.Visit(func(f *flag.Flag) {
		if field, ok := flagFields[f.Name]; ok {
			out = append(out, field)
		}
	})
	return out
}

func setupVisitCreate(fs *flag.FlagSet) deviceRun {
	vf := addVisitFlags(fs)
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		v, err := vf.visit()
		if err != nil {
			return err
		}
		if *vf.customer == "" {
			return fmt.Errorf("%w: fieldsync device visit create --customer <id> [--notes …]", errUsage)
		}
		if v.VisitTime == nil {
			v.VisitTime = timestamppb.Now()
		}
		id := c.NewID()
		if err := c.Put(ctx, id, v); err != nil {
			return err
		}
		return printRecord(ctx, c, out, "fieldsync.v1.Visit", id)
	}
}

func setupVisitEdit(fs *flag.FlagSet) deviceRun {
	vf := addVisitFlags(fs)
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 1 || len(vf.setFields()) == 0 {
			return fmt.Errorf("%w: fieldsync device visit edit <id> [--notes …] [--tags …] (at least one field)", errUsage)
		}
		v, err := vf.visit()
		if err != nil {
			return err
		}
		id := args[0]
		if found, err := c.Get(ctx, "fieldsync.v1.Visit", id, &fieldsyncv1.Visit{}); err != nil || !found {
			return fmt.Errorf("visit %s: not on this device (%v)", id, err)
		}
		if err := c.Put(ctx, id, v, vf.setFields()...); err != nil {
			return err
		}
		return printRecord(ctx, c, out, "fieldsync.v1.Visit", id)
	}
}

func setupDelete(fs *flag.FlagSet) deviceRun {
	typ := fs.String("type", "Visit", "record type (short or full name)")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: fieldsync device delete [--type Visit] <id>", errUsage)
		}
		if err := c.Delete(ctx, fullType(*typ), args[0]); err != nil {
			return err
		}
		return printJSONValue(out, map[string]any{"deleted": args[0]})
	}
}

// fullType accepts "Visit" for "fieldsync.v1.Visit".
func fullType(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return "fieldsync.v1." + name
}

// recordJSON is how the tool prints a record.
type recordJSON struct {
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	Pending bool      `json:"pending"`
	Value   protoJSON `json:"value"`
}

func toRecordJSON(r fieldsync.Record) recordJSON {
	return recordJSON{Type: r.Type, ID: r.ID, Version: r.Version, Pending: r.Pending, Value: protoJSON{r.Value}}
}

func setupList(fs *flag.FlagSet) deviceRun {
	typ := fs.String("type", "", "only this record type (short or full name); default all")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		types := fieldsync.RecordTypes()
		if *typ != "" {
			types = []string{fullType(*typ)}
		}
		recs := []recordJSON{}
		for _, t := range types {
			list, err := c.List(ctx, t)
			if err != nil {
				return err
			}
			for _, r := range list {
				recs = append(recs, toRecordJSON(r))
			}
		}
		return printJSONValue(out, map[string]any{"records": recs})
	}
}

// printRecord prints one record of the local view.
func printRecord(ctx context.Context, c *fieldsync.Client, out io.Writer, typ, id string) error {
	list, err := c.List(ctx, typ)
	if err != nil {
		return err
	}
	for _, r := range list {
		if r.ID == id {
			return printJSONValue(out, toRecordJSON(r))
		}
	}
	return fmt.Errorf("%s %s: not in the local view", typ, id)
}

func setupSync(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		return printStatus(ctx, c, out)
	}
}

func setupWatch(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if err := c.Watch(ctx); err != nil {
			return err
		}
		return printStatus(context.WithoutCancel(ctx), c, out)
	}
}

func setupStatus(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		return printStatus(ctx, c, out)
	}
}

func printStatus(ctx context.Context, c *fieldsync.Client, out io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	m := map[string]any{
		"outboxDepth": st.OutboxDepth, "cursor": st.Cursor, "conflicts": st.Conflicts, "rejections": st.Rejections,
		"photoQueue": st.PhotoQueue, "photoBytesPending": st.PhotoBytesPending, "photosFailed": st.PhotosFailed,
	}
	if !st.OldestPending.IsZero() {
		m["oldestPending"], m["oldestPendingAge"] = st.OldestPending.UTC().Format(time.RFC3339), st.OldestPendingAge.Round(time.Second).String()
	}
	if !st.LastSync.IsZero() {
		m["lastSync"] = st.LastSync.UTC().Format(time.RFC3339)
	}
	return printJSONValue(out, m)
}

func setupConflicts(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		cs, err := c.Conflicts(ctx)
		if err != nil {
			return err
		}
		list := []map[string]any{}
		for _, cf := range cs {
			list = append(list, map[string]any{
				"id": cf.ID, "recordType": cf.RecordType, "recordId": cf.RecordID, "field": cf.Field, "reason": cf.Reason,
				"losing": protoJSON{cf.Losing}, "winning": protoJSON{cf.Winning},
				"losingDeviceId": cf.LosingDeviceID, "winningDeviceId": cf.WinningDeviceID,
			})
		}
		return printJSONValue(out, map[string]any{"conflicts": list})
	}
}

func setupRejections(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		rs, err := c.Rejections(ctx)
		if err != nil {
			return err
		}
		list := []map[string]any{}
		for _, r := range rs {
			list = append(list, map[string]any{
				"seq": r.Seq, "recordType": r.RecordType, "recordId": r.RecordID, "fields": r.Fields, "delete": r.Delete,
				"value": protoJSON{r.Value}, "code": r.Code.String(), "reason": r.Reason,
			})
		}
		return printJSONValue(out, map[string]any{"rejections": list})
	}
}

// protoJSON marshals a message (or nil, as null) as protobuf JSON inside
// encoding/json output.
type protoJSON struct{ m proto.Message }

func (p protoJSON) MarshalJSON() ([]byte, error) {
	if p.m == nil {
		return []byte("null"), nil
	}
	return protojson.Marshal(p.m)
}

func printJSONValue(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func setupPhotoAdd(fs *flag.FlagSet) deviceRun {
	typ := fs.String("type", "", "record type (short or full name); default: the type of the record on this device")
	offline := fs.Bool("offline", false, "only queue the photo: the next sync uploads it")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 3 {
			return fmt.Errorf("%w: fieldsync device photo add <record-id> <slot> <file> [--type SurgerySupport] [--offline]", errUsage)
		}
		recordType, err := photoRecordType(ctx, c, *typ, args[0])
		if err != nil {
			return err
		}
		ref, err := c.AddPhotoFile(ctx, recordType, args[0], args[1], args[2])
		if err != nil {
			return err
		}
		if !*offline {
			if err := c.Sync(ctx); err != nil {
				return err
			}
		}
		return printPhoto(ctx, c, out, ref.GetSha256(), args[0])
	}
}

// photoRecordType is the --type given, else the type of the local record.
func photoRecordType(ctx context.Context, c *fieldsync.Client, flagType, id string) (string, error) {
	if flagType != "" {
		return fullType(flagType), nil
	}
	for _, t := range fieldsync.RecordTypes() {
		list, err := c.List(ctx, t)
		if err != nil {
			return "", err
		}
		for _, r := range list {
			if r.ID == id {
				return t, nil
			}
		}
	}
	return "", fmt.Errorf("record %s is not on this device: give its --type to create it with the photo", id)
}

func setupPhotos(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		ps, err := c.Photos(ctx)
		if err != nil {
			return err
		}
		list := []map[string]any{}
		for _, p := range ps {
			m, err := photoJSON(ctx, c, p)
			if err != nil {
				return err
			}
			list = append(list, m)
		}
		return printJSONValue(out, map[string]any{"photos": list})
	}
}

// printPhoto prints a photo of the queue as attached to a record (it may
// have been attached to another one first).
func printPhoto(ctx context.Context, c *fieldsync.Client, out io.Writer, sha, recordID string) error {
	ps, err := c.Photos(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ps, func(p fieldsync.Photo) bool { return p.SHA256 == sha })
	if i < 0 {
		return fmt.Errorf("photo %s: not in the queue", sha)
	}
	ps[i].RecordID = recordID
	m, err := photoJSON(ctx, c, ps[i])
	if err != nil {
		return err
	}
	return printJSONValue(out, m)
}

// photoJSON is how the tool prints a photo of the queue; serverState is
// the photo's state as the record it was first attached to last showed it.
func photoJSON(ctx context.Context, c *fieldsync.Client, p fieldsync.Photo) (map[string]any, error) {
	m := map[string]any{
		"sha256": p.SHA256, "size": p.Size, "contentType": p.ContentType, "recordType": p.RecordType,
		"recordId": p.RecordID, "slot": p.Slot, "state": p.State.String(), "offset": p.Offset,
	}
	for k, v := range map[string]string{"uploadId": p.UploadID, "path": p.Path, "error": p.Err} {
		if v != "" {
			m[k] = v
		}
	}
	if !p.RetryAt.IsZero() {
		m["retryAt"] = p.RetryAt.UTC().Format(time.RFC3339)
	}
	var err error
	m["serverState"], err = serverPhotoState(ctx, c, p.RecordID, p.SHA256)
	return m, err
}

// serverPhotoState is "available", "pending" or "" (the record was not
// pulled since it refers to the photo).
func serverPhotoState(ctx context.Context, c *fieldsync.Client, recordID, sha string) (string, error) {
	rps, err := c.RecordPhotos(ctx, recordID)
	if err != nil {
		return "", err
	}
	for _, rp := range rps {
		if rp.SHA256 == sha && rp.Available {
			return "available", nil
		} else if rp.SHA256 == sha {
			return "pending", nil
		}
	}
	return "", nil
}

// progressBar draws photo uploads on w as "<hash> [#####.....] 52% 1.3/2.5
// MiB": redrawn in place with \r on a terminal; elsewhere (a file, a pipe)
// one line per tenth, so a log stays readable. Plain text only.
type progressBar struct {
	w           io.Writer
	tty         bool
	sha         string
	sent, tenth int64 // of the last line drawn
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w)}
}

// update draws the progress of one photo (fieldsync.WithPhotoProgress).
func (p *progressBar) update(sha string, sent, total int64) {
	tenth := sent * 10 / max(total, 1)
	if sha == p.sha && (sent == p.sent || (!p.tty && tenth == p.tenth)) {
		return // nothing new to draw
	}
	p.sha, p.sent, p.tenth = sha, sent, tenth
	line := sha[:min(len(sha), 8)] + " " + progressLine(sent, total)
	switch {
	case !p.tty:
		fmt.Fprintln(p.w, line)
	case sent >= total:
		fmt.Fprintf(p.w, "\r%s  \n", line)
	default:
		fmt.Fprintf(p.w, "\r%s  ", line) // the spaces cover a longer line before
	}
}

// progressLine is "[#####.....] 52% 1.3/2.5 MiB".
func progressLine(sent, total int64) string {
	const width = 20
	total = max(total, 1)
	n := int(min(sent, total) * width / total)
	return fmt.Sprintf("[%s%s] %3d%% %.1f/%.1f MiB", strings.Repeat("#", n), strings.Repeat(".", width-n),
		sent*100/total, float64(sent)/(1<<20), float64(total)/(1<<20))
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
