package main

// Fuzz targets for the CSV files `fieldsync import` and `fieldsync
// integrate` read (history exports, ERP stock files: data from other
// systems). Their seeds run with every `go test`; `go test -fuzz
// FuzzParseHistoryCSV ./cmd/fieldsync` explores further.

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseHistoryCSV: any file parses without panicking; a line is either
// a row to send or names the column at fault, never both.
func FuzzParseHistoryCSV(f *testing.F) {
	for _, s := range []string{
		"source_id,event_time,customer_id,status\nv-1,2026-01-02T10:00:00Z,c-1,VISIT_STATUS_SUBMITTED\n",
		"source_id,event_time,notes\nv-1,2026-01-02,\"multi\nline\"\nv-2,not a time,x\n",
		"source_id,event_time\n\"unterminated,2026-01-02\n",
		"source_id,event_time,nope\n",
		"source_id,event_time,customer_id\nv-1,2026-01-02\n",
		"",
		"\xff\xfe,\x00\n",
	} {
		for _, kind := range []string{"visits", "diagnoses", "commitments", "opportunities"} {
			f.Add([]byte(s), kind)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, kind string) {
		if historyKinds[kind] == nil {
			kind = "visits"
		}
		lines, err := parseHistoryCSV(data, kind)
		if err != nil {
			return
		}
		for _, l := range lines {
			if (l.row == nil) == (l.field == "") {
				t.Fatalf("line %d: row %v, field %q, reason %q: want a row or a column at fault", l.line, l.row, l.field, l.reason)
			}
		}
	})
}

// FuzzParseStockCSV: any file parses without panicking; a parsed file has
// one row per line after the header, and an error names the line.
func FuzzParseStockCSV(f *testing.F) {
	for _, s := range []string{
		"terminal_id,product_id,on_hand,safety_stock\nt-1,p-1,5,2\n",
		"terminal_id,product_id,on_hand\nt-1,p-1,-9223372036854775809\n",
		"terminal_id,product_id\nt-1\n",
		"terminal_id,product_id,colour\n",
		"product_id\n",
		"",
		"terminal_id,product_id\n\"t,1\",\"p\"\"2\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseStockCSV(data)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "column") && !strings.Contains(msg, "line") {
				t.Fatalf("error %q names a column but no line", msg)
			}
			return
		}
		if slices.Contains(rows, nil) {
			t.Fatalf("nil row in %v", rows)
		}
	})
}
