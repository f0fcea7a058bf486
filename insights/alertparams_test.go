package insights

import (
	"strings"
	"testing"
	"unicode/utf8"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// paramMap is an alert's params by name.
func paramMap(a *fieldsyncv1.Alert) map[string]string {
	m := map[string]string{}
	for _, p := range a.Params {
		m[p.Name] = p.Value
	}
	return m
}

func TestAlertParamsCutLongValuesAtARune(t *testing.T) {
	long := strings.Repeat("区", 400) // 1200 bytes
	p := alertParams("a", "x", "b", long, "odd")
	if len(p) != 2 || p[0].Name != "a" || p[0].Value != "x" || p[1].Name != "b" {
		t.Fatalf("params %v: want a and b, the odd name dropped", p)
	}
	if v := p[1].Value; len(v) > 1024 || !utf8.ValidString(v) || !strings.HasPrefix(long, v) || len(v) < 1022 {
		t.Errorf("cut value: %d bytes, valid %v", len(v), utf8.ValidString(v))
	}
}
