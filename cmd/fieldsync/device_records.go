package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

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
