package syncengine

// maxPullPageBytes bounds the record values of one Pull page, so a large
// limit of large records is not built and marshalled in full only for the
// send limit to refuse it.
const maxPullPageBytes = 4 << 20

// trimToBudget ends the page at the row whose value brings the page's
// values to budget bytes (the first row always stays): the cursor then
// points just after it, and more is set.
func (pg *page) trimToBudget(budget int) {
	size := 0
	for i, r := range pg.rows {
		if r.Record != nil {
			size += len(r.Record.Value)
		}
		if size >= budget && i+1 < len(pg.rows) {
			pg.rows, pg.last, pg.more = pg.rows[:i+1], r.Version, true
			return
		}
	}
}
