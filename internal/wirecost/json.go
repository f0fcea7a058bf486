package wirecost

import "fmt"

// Estimated costs, in bytes, of a JSON message's parts once decoded. JSON
// is walked without its schema, so an object costs what a message of a
// few fields costs, whichever message it is, and an array element what a
// string's slot costs with its share of the slice's regrowth.
const (
	jsonObjectCost  = 128
	jsonElementCost = 64
)

// JSON is Proto for protojson's encoding of a message: it returns nil when
// decoding b would cost at most PerByte×len(b)+Slack bytes, and ErrTooCostly
// when its objects and array elements would cost more. A malformed b is left
// to the decoder, as in Proto.
func JSON(b []byte) error {
	left := PerByte*len(b) + Slack
	var arrays []bool // per open container: whether it is an array
	pending := false  // in an array, before its next element
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if pending && c != ']' {
			pending = false
			if left -= jsonElementCost; left < 0 {
				return fmt.Errorf("json: %w", ErrTooCostly)
			}
		}
		switch c {
		case '"':
			if i = skipString(b, i); i < 0 {
				return nil
			}
		case '{', '[':
			if len(arrays) >= recursionLimit {
				return nil
			}
			arrays = append(arrays, c == '[')
			pending = c == '['
			if c == '{' {
				if left -= jsonObjectCost; left < 0 {
					return fmt.Errorf("json: %w", ErrTooCostly)
				}
			}
		case '}', ']':
			if len(arrays) == 0 {
				return nil
			}
			arrays = arrays[:len(arrays)-1]
		case ',':
			pending = len(arrays) > 0 && arrays[len(arrays)-1]
		}
	}
	return nil
}

// skipString returns the index of the quote closing the string opened at
// b[i], or -1 when it is not closed.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
