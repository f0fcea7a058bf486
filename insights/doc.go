// Package insights turns the change stream into the Process Health Index
// (DOMAIN.md PHI) and the alert rules A1–A6. A Consumer handles each change
// event idempotently (by event id, in one SQLite transaction), keeps the
// facts PHI is computed from so it survives restarts and can be recomputed
// (Recompute), and queues alerts and flags that are performed after the
// commit through the sync engine's AlertWriter and RecordFlagger. Sweep runs
// the time-based rules. The PHI computation itself (ComputePhi) and the rules
// (rules.go) are pure functions.
package insights
