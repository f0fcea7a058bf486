// Package importrules holds the test that checks the import rules of
// docs/architecture.md ("Import rules") over `go list -deps -json ./...`;
// `make lint` runs it. The package has no code of its own.
package importrules
