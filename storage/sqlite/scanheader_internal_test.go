package sqlite

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScanHeaderRoundTripsAnyText: the scan reads a row's id, type and
// scope as one text (headerText) and splits it by the byte lengths it
// carries, so values holding commas, digits, multi-byte characters, control
// characters or nothing come back as they were.
func TestScanHeaderRoundTripsAnyText(t *testing.T) {
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
	for _, c := range cases {
		var h string
		err := db.QueryRow(`SELECT `+headerText("r", "id")+` FROM (SELECT ? AS id, ? AS type, ? AS owner_id, ? AS store_id, ? AS region_id) r`,
			c[0], c[1], c[2], c[3], c[4]).Scan(&h)
		if err != nil {
			t.Fatal(err)
		}
		id, typ, sc, err := parseHeader(h)
		if want := (syncengine.Scope{Owner: c[2], Store: c[3], Region: c[4]}); err != nil || id != c[0] || typ != c[1] || sc != want {
			t.Errorf("header of %q = %q: %q %q %+v (%v)", c, h, id, typ, sc, err)
		}
	}
	for _, bad := range []string{"", "1,2,3", "a,0,0,0,", "-1,0,0,0,x", "5,0,0,0,abc"} {
		if _, _, _, err := parseHeader(bad); err == nil {
			t.Errorf("parseHeader(%q) accepted it", bad)
		}
	}
}
