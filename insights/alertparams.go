package insights

import fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"

// alertParams makes an alert's named facts (Alert.params) from name, value
// pairs, so that devices word the alert in their user's language. Each
// value is cut to the field's limit (1024 bytes, at a rune boundary).
func alertParams(kv ...string) []*fieldsyncv1.AlertParam {
	out := make([]*fieldsyncv1.AlertParam, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &fieldsyncv1.AlertParam{Name: kv[i], Value: cutRunes(kv[i+1], 1024)})
	}
	return out
}

// cutRunes returns s cut to at most n bytes without splitting a rune.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
