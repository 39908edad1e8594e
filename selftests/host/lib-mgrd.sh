# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Helpers of the host-native qkdn-mgrd tests (selftests/host/mgrd_*.sh):
# they run on the build host, not in the VM: the manager and its agents
# are plain userspace. Source it after setting `set -e`.
#
#   mgrd_pki DIR            a CA, the manager's certificate (qkdn-mgr), the
#                           agents' (qkdn-node-1..3, qkdn-qkd-1..3,
#                           qkdn-ctl), one of no agent (someone) and one of
#                           a foreign CA (rogue/qkdn-node-1)
#   mgrd_start DIR [K=V..]  writes DIR/mgrd.conf (extra [manager] keys),
#                           starts qkdn-mgrd, waits for both ports; sets
#                           MGRD_PID, MGRD_PORT, MGRD_HTTP
#   agent CN ARGS...        qkdn-mgrd-agent as CN (script on stdin)
#   api PATH                GET https://127.0.0.1:$MGRD_HTTP/PATH (JSON)
#   ok/not_ok/check ...     TAP lines counted by scripts/check

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$repo/build/bin
checks_failed=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; checks_failed=$((checks_failed + 1)); }
# check WHAT EXPECTED SEEN
check() {
	if [[ "$2" == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1: expected '$2', saw '$3'"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mgrd_cert() {	# DIR NAME CN [CA-PREFIX]
	local dir=$1 name=$2 cn=$3 ca=${4:-ca}
	(
		set -e
		umask 077
		cd "$dir"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$name.key" -out "$name.csr" -subj "/O=qkdn test/CN=$cn" 2>/dev/null
		openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
			-out "$name.crt" -days 2 -extfile <(printf '%s\n' \
			"basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null
		rm -f "$name.csr"
		chmod 0644 "$name.crt"
	)
}

mgrd_ca() {	# DIR PREFIX
	(
		set -e
		umask 077
		cd "$1"
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$2.key" -out "$2.crt" -days 2 -subj "/O=qkdn test/CN=$2 CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		chmod 0644 "$2.crt"
	)
}

mgrd_pki() {
	local dir=$1 i
	mkdir -p "$dir"
	mgrd_ca "$dir" ca
	mgrd_ca "$dir" rogue-ca
	mgrd_cert "$dir" mgr qkdn-mgr
	for i in 1 2 3; do
		mgrd_cert "$dir" "node-$i" "qkdn-node-$i"
		mgrd_cert "$dir" "qkd-$i" "qkdn-qkd-$i"
	done
	mgrd_cert "$dir" ctl qkdn-ctl
	mgrd_cert "$dir" someone someone
	mgrd_cert "$dir" rogue qkdn-node-1 rogue-ca
}

mgrd_start() {
	local dir=$1 i
	shift
	MGRD_DIR=$dir
	MGRD_PORT=${MGRD_PORT:-$(free_port)}
	MGRD_HTTP=${MGRD_HTTP:-$(free_port)}
	{
		echo "[manager]"
		echo "name = test-mgr"
		echo "listen = 127.0.0.1:$MGRD_PORT"
		echo "cert = mgr.crt"
		echo "key = mgr.key"
		echo "ca = ca.crt"
		echo "db = mgrd.db"
		for kv in "$@"; do echo "$kv"; done
		echo "[http]"
		echo "listen = 127.0.0.1:$MGRD_HTTP"
		echo "client-cert = no"
	} > "$dir/mgrd.conf"
	"$bin/qkdn-mgrd" -c "$dir/mgrd.conf" -L "${MGRD_LOG_LEVEL:-info}" 2>> "$dir/mgrd.log" &
	MGRD_PID=$!
	for i in $(seq 100); do
		if python3 -c "import socket,sys; [socket.create_connection(('127.0.0.1',p),0.2).close() for p in ($MGRD_PORT,$MGRD_HTTP)]" 2>/dev/null; then
			return 0
		fi
		kill -0 "$MGRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# qkdn-mgrd did not start:"; sed 's/^/# /' "$dir/mgrd.log"
	return 1
}

mgrd_stop() {
	[[ -n ${MGRD_PID:-} ]] || return 0
	kill "$MGRD_PID" 2>/dev/null || true
	wait "$MGRD_PID" 2>/dev/null || true
	MGRD_PID=
}

# kill_bg PID...: a background `agent ...` job is a subshell whose child is
# qkdn-mgrd-agent; kill both, or the agent outlives the test and holds the
# pipe of whoever reads our output (scripts/check's tee) open forever.
kill_bg() {
	local pid
	for pid in "$@"; do
		[[ -n $pid ]] || continue
		pkill -P "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	return 0
}

# agent NAME CN KIND [ID] [ARGS...]: cert NAME.crt in $MGRD_DIR
agent() {
	local name=$1 cn=$2 kind=$3 id=$4
	shift 4
	"$bin/qkdn-mgrd-agent" -m "127.0.0.1:$MGRD_PORT" -C "$MGRD_DIR/$name.crt" \
		-K "$MGRD_DIR/$name.key" -A "$MGRD_DIR/ca.crt" -n "$cn" -k "$kind" -i "$id" "$@"
}

api() {
	curl -sk --max-time 10 "https://127.0.0.1:$MGRD_HTTP/$1"
}

# db SQL: the manager's database, read-only
db() {
	python3 - "$MGRD_DIR/mgrd.db" "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for row in c.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
