package syncengine

// CursorAt returns a cursor with its version replaced (tests forge cursors).
func CursorAt(text string, version uint64) string {
	c, _ := decodeCursor(text)
	c.version = version
	return c.encode()
}
