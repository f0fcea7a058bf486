package sqlite

import (
	"database/sql"
	"strings"
	"testing"
)

// TestScanRowTextRoundTripsAnyText: the scan reads a row's integers, id,
// type and scope as one text (rowText) and splits it by the byte lengths
// it carries, so values holding commas, digits, multi-byte characters,
// control characters or nothing come back as they were.
func TestScanRowTextRoundTripsAnyText(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := [][5]string{
		{"v1", "fieldsync.v1.Visit", "u1", "", "r1"},
		{"", "", "", "", ""},
		{"1,2,3,", "4,", ",5", "6,7,8,9,", "10,"},
		{"ünï", "日本", "o\x1fwner", "st\tore", "région"},
		{strings.Repeat("x", 300), "t", "", "s", ""},
	}
	ints := []int64{0, -1, 1 << 62, 9_223_372_036_854_775_807}
	query := `SELECT ` + rowText([]string{"a", "b", "c", "d"}, []string{"id", "type", "owner_id", "store_id", "region_id"}) +
		` FROM (SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS id, ? AS type, ? AS owner_id, ? AS store_id, ? AS region_id)`
	for _, c := range cases {
		var text string
		if err := db.QueryRow(query, ints[0], ints[1], ints[2], ints[3], c[0], c[1], c[2], c[3], c[4]).Scan(&text); err != nil {
			t.Fatal(err)
		}
		gotInts, got := make([]int64, 4), make([]string, 5)
		if err := parseRowText(text, gotInts, got); err != nil || [5]string(got) != c || [4]int64(gotInts) != [4]int64(ints) {
			t.Errorf("text of %q %v = %q: %q %v (%v)", c, ints, text, got, gotInts, err)
		}
	}
	// A string holding a NUL (printf's %s stops there) is refused, not cut wrongly.
	for _, c := range [][5]string{{"a\x00b", "t", "o", "s", "r"}, {"v1", "t", "o", "s", "r\x00egion"}} {
		var text string
		if err := db.QueryRow(query, ints[0], ints[1], ints[2], ints[3], c[0], c[1], c[2], c[3], c[4]).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if got := make([]string, 5); parseRowText(text, make([]int64, 4), got) == nil {
			t.Errorf("text of %q = %q: parsed as %q", c, text, got)
		}
	}
	for _, bad := range []string{"", "1,2,3", "a,0,0,0,", "0,-1,0,0,x", "0,5,0,0,abc", "0,1,", "0,99999999999999999999,0,0,",
		"0,1,1,1,1,abcdz", "0,1,1,1,1,abc"} {
		if err := parseRowText(bad, make([]int64, 1), make([]string, 4)); err == nil {
			t.Errorf("parseRowText(%q) accepted it", bad)
		}
	}
}
