package sqlite

import (
	"encoding/binary"
	"errors"
)

// resultRuns buffers push results per actor as runs of consecutive seqs.
type resultRuns struct {
	runs []*resultRun
}

type resultRun struct {
	actor   string
	first   uint64
	results [][]byte
}

func (r *resultRuns) add(actor string, seq uint64, result []byte) {
	if n := len(r.runs); n > 0 {
		last := r.runs[n-1]
		if last.actor == actor && last.first+uint64(len(last.results)) == seq {
			last.results = append(last.results, result)
			return
		}
	}
	r.runs = append(r.runs, &resultRun{actor: actor, first: seq, results: [][]byte{result}})
}

func (r *resultRuns) get(actor string, seq uint64) ([]byte, bool) {
	for _, run := range r.runs {
		if run.actor == actor && seq >= run.first && seq < run.first+uint64(len(run.results)) {
			return run.results[seq-run.first], true
		}
	}
	return nil, false
}

// joinResults concatenates results, each prefixed by its length.
func joinResults(results [][]byte) []byte {
	var b []byte
	for _, r := range results {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

var errBadResults = errors.New("corrupt push results")

// nthResult returns the i-th result of a joined blob.
func nthResult(b []byte, i int) ([]byte, error) {
	for {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errBadResults
		}
		if i == 0 {
			return b[k : k+int(n)], nil
		}
		b, i = b[k+int(n):], i-1
	}
}
