package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

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
