#!/usr/bin/env bash
# Runs every go-fuzz target in the module for a while each: scripts/fuzz.sh [FUZZTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20s}
grep -rH --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | while IFS=: read -r file line; do
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(.*/\1/' <<<"$line")
  pkg="./$(dirname "${file#./}")"
  echo "== $pkg $name ($fuzztime)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"
done
