#!/usr/bin/env bash
# cluster.sh starts fieldsync as several nodes on loopback, for trying the
# multi-node setup (docs/operations.md, "Several nodes"):
#
#   - a 3-node NATS JetStream cluster (scripts/natscluster, built from the
#     pinned nats-server module; no downloaded binary),
#   - versitygw as the S3 photo store (.tools/bin/versitygw; `make tools`),
#   - 3 fieldsyncd nodes with --nats-url to the cluster, --nats-replicas 3,
#     S3 to versitygw and one shared SQLite file (--sqlite-path),
#   - a round-robin reverse proxy in front of them (scripts/clusterproxy).
#
# It prints the URLs and runs until Ctrl-C, which stops everything. State
# lives in $CLUSTER_DIR (default data/cluster) and survives restarts;
# remove the folder to start afresh.
#
# Environment: CLUSTER_DIR, CLUSTER_PORT (proxy, default 8080; nodes take
# the next three ports), NATS_PORTS (default 4222,4223,4224), S3_PORT
# (default 7070), METRICS_PORT (first node's /metrics, default 9465).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mkdir -p "${CLUSTER_DIR:-data/cluster}" && cd "${CLUSTER_DIR:-data/cluster}" && pwd)
PROXY_PORT=${CLUSTER_PORT:-8080}
NATS_PORTS=${NATS_PORTS:-4222,4223,4224}
S3_PORT=${S3_PORT:-7070}
METRICS_PORT=${METRICS_PORT:-9465}
VERSITYGW=$ROOT/.tools/bin/versitygw
S3_ACCESS=fieldsync
S3_SECRET_FILE=$WORK/s3-secret

pids=()
cleanup() {
	trap - EXIT INT TERM
	echo ">> stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

# wait_port PORT NAME: wait until something accepts connections on PORT.
wait_port() {
	for _ in $(seq 1 600); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "cluster.sh: $2 did not open port $1 (see $WORK/logs)" >&2
	exit 1
}

mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/s3"
umask 077
[ -x "$VERSITYGW" ] || make "$VERSITYGW"
echo ">> building fieldsyncd, fieldsync, natscluster and clusterproxy into $WORK/bin"
go build -o "$WORK/bin/" ./cmd/fieldsyncd ./cmd/fieldsync ./scripts/natscluster ./scripts/clusterproxy

# Secrets shared by the nodes: the operator token and the S3 key.
[ -s "$WORK/operator-token" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/operator-token"
[ -s "$S3_SECRET_FILE" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$S3_SECRET_FILE"

echo ">> starting the NATS cluster on ports $NATS_PORTS"
"$WORK/bin/natscluster" -dir "$WORK/nats" -ports "$NATS_PORTS" >"$WORK/logs/nats.url" 2>"$WORK/logs/nats.log" &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$WORK/logs/nats.url" ] && break; sleep 0.1; done
NATS_URL=$(head -n1 "$WORK/logs/nats.url")
[ -n "$NATS_URL" ] || { echo "cluster.sh: the NATS cluster did not start (see $WORK/logs/nats.log)" >&2; exit 1; }

echo ">> starting versitygw on port $S3_PORT"
env -u VGW_BACKEND "$VERSITYGW" --port "127.0.0.1:$S3_PORT" --access "$S3_ACCESS" --secret "$(cat "$S3_SECRET_FILE")" \
	--quiet posix "$WORK/s3" >"$WORK/logs/versitygw.log" 2>&1 &
pids+=($!)
wait_port "$S3_PORT" versitygw

# start_node I [FLAGS…]: write $WORK/node-I.sh, which starts fieldsyncd node
# I (1-3) in the foreground (run it by hand to restart a node you killed),
# start it in the background and wait for its port.
start_node() {
	local i=$1 port=$((PROXY_PORT + $1))
	shift
	cat >"$WORK/node-$i.sh" <<NODE
#!/usr/bin/env bash
FIELDSYNC_S3_SECRET_KEY=\$(cat "$S3_SECRET_FILE") exec "$WORK/bin/fieldsyncd" \\
	--data-dir "$WORK/node$i" --addr "127.0.0.1:$port" \\
	--metrics-addr "127.0.0.1:$((METRICS_PORT + i - 1))" \\
	--nats-url "$NATS_URL" --nats-replicas 3 \\
	--sqlite-path "$WORK/fieldsync.db" \\
	--s3-endpoint "127.0.0.1:$S3_PORT" --s3-bucket fieldsync-photos --s3-access-key "$S3_ACCESS" \\
	--operator-token-file "$WORK/operator-token" \\
	--public-url "http://127.0.0.1:$PROXY_PORT" $* "\$@"
NODE
	chmod 700 "$WORK/node-$i.sh"
	"$WORK/node-$i.sh" >>"$WORK/logs/node$i.log" 2>&1 &
	pids+=($!)
	wait_port "$port" "fieldsyncd node $i"
}

echo ">> starting 3 fieldsyncd nodes"
start_node 1 --demo # first alone: it applies the migrations and seeds the demo organisation
start_node 2
start_node 3

"$WORK/bin/clusterproxy" -addr "127.0.0.1:$PROXY_PORT" \
	"http://127.0.0.1:$((PROXY_PORT + 1))" "http://127.0.0.1:$((PROXY_PORT + 2))" "http://127.0.0.1:$((PROXY_PORT + 3))" \
	>"$WORK/logs/proxy.log" 2>&1 &
pids+=($!)
wait_port "$PROXY_PORT" clusterproxy

cat <<MSG

fieldsync cluster is up (Ctrl-C stops it):
  API (round-robin proxy)  http://127.0.0.1:$PROXY_PORT
  nodes                    http://127.0.0.1:$((PROXY_PORT + 1))  http://127.0.0.1:$((PROXY_PORT + 2))  http://127.0.0.1:$((PROXY_PORT + 3))
  metrics                  http://127.0.0.1:$METRICS_PORT/metrics  (+1, +2 for the other nodes)
  NATS cluster             $NATS_URL
  S3 (versitygw)           http://127.0.0.1:$S3_PORT  bucket fieldsync-photos, access key $S3_ACCESS
  SQLite (shared)          $WORK/fieldsync.db
  demo credentials         $WORK/node1/demo-credentials.json
  operator token           $WORK/operator-token
  logs                     $WORK/logs/
  restart a killed node    $WORK/node-2.sh >>$WORK/logs/node2.log 2>&1 &

Try:  export FIELDSYNC_SERVER=http://127.0.0.1:$PROXY_PORT FIELDSYNC_OPERATOR_TOKEN_FILE=$WORK/operator-token
      $WORK/bin/fieldsync tenant list
MSG
# A node may be killed to watch the others take over: report it, go on.
while [ -n "$(jobs -rp)" ]; do
	wait -n || true
	echo "cluster.sh: a process exited (see $WORK/logs); Ctrl-C stops the rest" >&2
done
