#!/usr/bin/env bash
# Installs the S3-compatible test server (versitygw) at a pinned version into $1.
# Reuses a binary of the same version found in $1 or in GOPATH/bin.
set -euo pipefail
dest=$1 version=$2
mkdir -p "$dest"
stamp="$dest/.versitygw-$version"
if [[ -x "$dest/versitygw" && -f "$stamp" ]]; then exit 0; fi
echo ">> installing versitygw $version into $dest (the S3 server the tests use; first time takes a few minutes)" >&2
GOBIN="$dest" GOFLAGS=-buildvcs=false go install -v "github.com/versity/versitygw/cmd/versitygw@$version" 2>&1 |
  "$(dirname "$0")/progress.sh" versitygw
touch "$stamp"
