package syncengine

import (
	"errors"
	"strings"

	"buf.build/go/protovalidate"
)

// ViolationMessage renders a protovalidate error as "field: message; …",
// naming the offending field of each violation.
func ViolationMessage(err error) string {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	parts := make([]string, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		msg := v.Proto.GetMessage()
		if path == "" || strings.HasPrefix(msg, path) {
			parts = append(parts, msg)
		} else {
			parts = append(parts, path+": "+msg)
		}
	}
	return strings.Join(parts, "; ")
}
