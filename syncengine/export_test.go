package syncengine

// CursorAt returns a cursor with its version replaced (tests forge cursors).
func CursorAt(text string, version uint64) string {
	c, _ := decodeCursor(text)
	c.version = version
	return c.encode()
}

// RememberReceipt makes the engine believe it wrote the device's receipt
// up to version (tests put its memory ahead of the store).
func (e *Engine) RememberReceipt(deviceID string, version uint64) {
	e.receipts.put(deviceID, receiptMark{version: version})
}

// CursorVersion returns the version a cursor ends at.
func CursorVersion(text string) uint64 {
	c, _ := decodeCursor(text)
	return c.version
}

// SetPrepare turns preparing a push's creates ahead of its transaction on
// or off (tests compare both paths).
func (e *Engine) SetPrepare(on bool) { e.noPrepare = !on }
