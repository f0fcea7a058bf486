package insights

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// A finding is what one alert is about: A1 a customer's conflicting
// diagnoses within a window, A2 a terminal's stock below safety, A6 a
// photo on several records. Its current episode and evidence are stored
// (sqlite insights_findings); each recipient has one alert per episode,
// updated as evidence arrives (raiseFinding), not one per pair of records.

// maxShown is how many records a finding's alert lists and shows photos of.
const maxShown = 6

// maxKept is how many of its latest records a finding keeps, so its
// evidence stays small however long the episode runs.
const maxKept = 64

// evidence is a finding's evidence, stored as JSON.
type evidence struct {
	// RaisedMS is when the episode was first raised: its alerts' raised_time.
	RaisedMS int64 `json:"raised_ms"`
	// Records are the latest maxKept records of the episode, in the order
	// they joined; Count counts all of them.
	Records []string `json:"records,omitempty"`
	Count   int      `json:"count,omitempty"`
	// Stores and Regions are the records' stores and regions (recipients).
	Stores  []string `json:"stores,omitempty"`
	Regions []string `json:"regions,omitempty"`
	// Stock (A2) is the line of each stock level below safety, by record.
	Stock map[string]string `json:"stock,omitempty"`
}

// add adds a record, its store and its region, each once.
func (e *evidence) add(recordID, storeID, regionID string) {
	if !slices.Contains(e.Records, recordID) {
		e.Records, e.Count = append(e.Records, recordID), e.Count+1
		e.Records = e.Records[max(0, len(e.Records)-maxKept):]
	}
	e.Stores = addOnce(e.Stores, storeID)
	e.Regions = addOnce(e.Regions, regionID)
}

func addOnce(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// finding returns the stored finding of key (a closed one when none) and
// its evidence.
func (w *work) finding(key string) (*insightstore.Finding, evidence, error) {
	f, err := w.tx.Finding(w.tenantID, key)
	if err != nil || f == nil {
		return &insightstore.Finding{Key: key}, evidence{}, err
	}
	var ev evidence
	if len(f.Evidence) > 0 {
		if err := json.Unmarshal(f.Evidence, &ev); err != nil {
			return nil, ev, fmt.Errorf("finding %s: %w", key, err)
		}
	}
	return f, ev, nil
}

// putFinding stores a finding with its evidence.
func (w *work) putFinding(f *insightstore.Finding, ev evidence) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	f.Evidence = data
	return w.tx.PutFinding(w.tenantID, f)
}
