#!/usr/bin/env bash
# Measures how long fieldsyncd --demo takes, on an empty data dir, to answer
# health over Connect and over gRPC.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/fieldsyncd
go build -o "$bin" ./cmd/fieldsyncd
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
"$bin" --demo --data-dir "$dir" --addr "127.0.0.1:$port" --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/grpc.health.v1.Health/Check" >/dev/null; do
  sleep 0.01
done
end=$(date +%s.%N)
echo "healthy over Connect after $(echo "$end - $start" | bc) s"
# gRPC health on the same port: see e2e TestHealthAnswersOverConnectAndGRPC.
