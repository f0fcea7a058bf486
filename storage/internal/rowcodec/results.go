package rowcodec

import (
	"encoding/binary"
	"errors"
)

// ResultRuns buffers push results per actor as runs of consecutive seqs,
// for a transaction to write at its end, one row per run.
type ResultRuns struct {
	Runs []*ResultRun
}

// ResultRun is one actor's results of consecutive seqs from First.
type ResultRun struct {
	Actor   string
	First   uint64
	Results [][]byte
}

// Last is the run's last seq.
func (r *ResultRun) Last() uint64 { return r.First + uint64(len(r.Results)) - 1 }

// Add keeps the result of an actor's seq.
func (r *ResultRuns) Add(actor string, seq uint64, result []byte) {
	if n := len(r.Runs); n > 0 {
		last := r.Runs[n-1]
		if last.Actor == actor && last.First+uint64(len(last.Results)) == seq {
			last.Results = append(last.Results, result)
			return
		}
	}
	r.Runs = append(r.Runs, &ResultRun{Actor: actor, First: seq, Results: [][]byte{result}})
}

// Get returns a kept result.
func (r *ResultRuns) Get(actor string, seq uint64) ([]byte, bool) {
	for _, run := range r.Runs {
		if run.Actor == actor && seq >= run.First && seq < run.First+uint64(len(run.Results)) {
			return run.Results[seq-run.First], true
		}
	}
	return nil, false
}

// JoinResults concatenates results, each prefixed by its length.
func JoinResults(results [][]byte) []byte {
	var b []byte
	for _, r := range results {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

var errBadResults = errors.New("corrupt push results")

// NthResult returns the i-th result of a joined blob.
func NthResult(b []byte, i int) ([]byte, error) {
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
