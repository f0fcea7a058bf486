#!/usr/bin/env bash
# cluster.sh starts fieldsync as several nodes on loopback, for trying the
# multi-node setup (docs/operations.md, "Several nodes"):
#
#   - PostgreSQL (initdb and pg_ctl of the installed PostgreSQL 15, on
#     loopback, trust authentication: for trying things out only; as root
#     the server runs as the postgres user, which refuses root),
#   - a 3-node NATS JetStream cluster (scripts/natscluster, built from the
#     pinned nats-server module; no downloaded binary),
#   - versitygw as the S3 photo store (.tools/bin/versitygw; `make tools`),
#   - 3 fieldsyncd nodes with --database to PostgreSQL, --nats-url to the
#     cluster, --nats-replicas 3 and S3 to versitygw,
#   - a round-robin reverse proxy in front of them (scripts/clusterproxy).
#
# It prints the URLs and runs until Ctrl-C, which stops everything. State
# lives in $CLUSTER_DIR (default data/cluster) and survives restarts;
# remove the folder to start afresh.
#
# Environment: CLUSTER_DIR, CLUSTER_PORT (proxy, default 8080; nodes take
# the next three ports), PG_PORT (default 5432), NATS_PORTS (default
# 4222,4223,4224), S3_PORT (default 7070), METRICS_PORT (first node's
# /metrics, default 9465), VERSITYGW (the binary; default the pinned one
# in .tools, installed when missing), CLUSTER_DB=sqlite (one shared SQLite file
# instead of PostgreSQL, as before PostgreSQL was supported).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mkdir -p "${CLUSTER_DIR:-data/cluster}" && cd "${CLUSTER_DIR:-data/cluster}" && pwd)
PROXY_PORT=${CLUSTER_PORT:-8080}
NATS_PORTS=${NATS_PORTS:-4222,4223,4224}
S3_PORT=${S3_PORT:-7070}
PG_PORT=${PG_PORT:-5432}
CLUSTER_DB=${CLUSTER_DB:-postgres}
METRICS_PORT=${METRICS_PORT:-9465}
VERSITYGW=${VERSITYGW:-$ROOT/.tools/bin/versitygw}
S3_ACCESS=fieldsync
S3_SECRET_FILE=$WORK/s3-secret

PGDIR=$WORK/pg # owned by the user postgres runs as; the cluster in $PGDIR/data
pids=()
pg_started=
cleanup() {
	trap - EXIT INT TERM
	echo ">> stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	[ -z "$pg_started" ] || as_postgres pg_ctl stop -w -m fast -D "$PGDIR/data" >/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

# as_postgres CMD…: run a PostgreSQL tool as the user that owns $PGDIR
# (postgres when this script runs as root: PostgreSQL refuses root).
as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres: initialise the cluster in $PGDIR/data once, start it on
# 127.0.0.1:$PG_PORT and create the database fieldsync once.
start_postgres() {
	command -v initdb >/dev/null && command -v pg_ctl >/dev/null ||
		{ echo "cluster.sh: initdb and pg_ctl not found: install PostgreSQL 15, or run with CLUSTER_DB=sqlite" >&2; exit 1; }
	mkdir -p "$PGDIR"
	if [ "$(id -u)" = 0 ]; then
		chmod o+x "$WORK" # postgres walks into $PGDIR
		chown postgres: "$PGDIR"
		runuser -u postgres -- test -x "$PGDIR" ||
			{ echo "cluster.sh: the postgres user cannot reach $PGDIR: set CLUSTER_DIR to a folder it can" >&2; exit 1; }
	fi
	chmod 700 "$PGDIR"
	if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
		as_postgres initdb -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >"$WORK/logs/initdb.log" 2>&1 ||
			{ echo "cluster.sh: initdb failed (see $WORK/logs/initdb.log)" >&2; exit 1; }
	fi
	touch "$WORK/logs/postgres.log"
	[ "$(id -u)" != 0 ] || chown postgres: "$WORK/logs/postgres.log"
	as_postgres pg_ctl start -w -t 60 -D "$PGDIR/data" -l "$WORK/logs/postgres.log" \
		-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c max_connections=200" >/dev/null ||
		{ echo "cluster.sh: PostgreSQL did not start (see $WORK/logs/postgres.log)" >&2; exit 1; }
	pg_started=1
	if [ -z "$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'fieldsync'")" ]; then
		psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE fieldsync"
	fi
}

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

if [ "$CLUSTER_DB" = sqlite ]; then
	DB_FLAG=(--sqlite-path "$WORK/fieldsync.db")
	DB_URL=$WORK/fieldsync.db
else
	echo ">> starting PostgreSQL on port $PG_PORT"
	start_postgres
	DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/fieldsync?sslmode=disable"
	DB_FLAG=(--database "$DB_URL")
fi

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
	${DB_FLAG[*]@Q} \\
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
  database                 $DB_URL
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
