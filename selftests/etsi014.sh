# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Helpers of the ETSI GS QKD 014 selftests (etsi014*.test.sh): application
# certificates, qkdn-kmd with an [etsi014] section, curl playing an SAE,
# and refusals checked down to "nothing consumed". Source it after lib.sh
# and pki.sh; the helpers work in $work:
#
#   e14_init                       skip without curl or jq; $work, a
#                                  scratch directory, removed at cleanup
#   e14_app_cert NAME CN [CADIR]   NAME.crt/.key in $work/pki, a client
#                                  certificate of CN, signed by CADIR's CA
#                                  (default $work/pki)
#   e14_kmd NS ID WORD...          start qkdn-kmd in netns NS as node ID;
#                                  WORDs: peer:ID:ADDR, route:DEST:VIA,
#                                  sae:ID:CN, timeout:MS (relay timeout);
#                                  the 014 API listens on :8443. Its log is
#                                  $work/NS.log (level $E14_LOG_LEVEL,
#                                  default debug); stopped at cleanup.
#                                  ${E14_EXTRA[NS]}, if set, is added to
#                                  its config (e.g. a [manager] section)
#   e14_kmd_stop NS                SIGTERM, then SIGKILL after 10 s
#   e14 NS CERT METHOD PATH [BODY] "CODE BODY" of one request made in NS
#                                  with CERT; CODE 000: no HTTP answer
#   e14_many NS CERT               the same for the requests on stdin, one
#                                  a line, "METHOD PATH [BODY]": one curl
#                                  and one TLS connection for them all
#                                  (processes and handshakes are dear
#                                  under TCG); a "CODE BODY" line each
#   e14_refused WHAT CODE MESSAGE NS CERT METHOD PATH [BODY]
#                                  the exact code and Error message, and
#                                  e14_snapshot NS (which the test defines:
#                                  pools and stores) unchanged
#
# Every kmd runs with ksa-sync = yes; the node certificates come from
# qkdn_pki $work/pki ID...

declare -A e14_pid e14_node_of E14_EXTRA

e14_init() {
	command -v curl >/dev/null || skip_all "curl is not installed (scripts/install-deps.sh)"
	command -v jq >/dev/null || skip_all "jq is not installed (scripts/install-deps.sh)"
	work=$(mktemp -d)
	defer rm -rf "$work"
}

# One openssl process (req -x509 -CA, OpenSSL 3): each costs seconds in
# the VM.
e14_app_cert() {
	local name=$1 cn=$2 ca=${3:-$work/pki}
	(
		umask 077
		cd "$work/pki"
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$name.key" -out "$name.crt" -subj "/O=qkdn test/CN=$cn" \
			-CA "$ca/ca.crt" -CAkey "$ca/ca.key" -days 30 \
			-addext "basicConstraints=critical,CA:FALSE" \
			-addext "keyUsage=critical,digitalSignature" \
			-addext "extendedKeyUsage=clientAuth" 2>/dev/null
	)
}

e14_kmd() {
	local ns=$1 id=$2 word a b c
	shift 2
	{
		printf '[node]\nid = %s\nname = %s\nlisten = 0.0.0.0:7000\n' "$id" "$ns"
		printf 'cert = %s/pki/node-%s.crt\nkey = %s/pki/node-%s.key\nca = %s/pki/ca.crt\n' \
			"$work" "$id" "$work" "$id" "$work"
		printf 'community = qkdn-selftest\nksa-sync = yes\n'
		for word in "$@"; do
			[[ $word == timeout:* ]] && printf 'relay-timeout-ms = %s\n' "${word#timeout:}"
		done
		for word in "$@"; do
			IFS=: read -r _ a b c <<< "$word"
			case $word in
			peer:*) printf '\n[peer]\nid = %s\naddress = %s:7000\n' "$a" "$b" ;;
			route:*) printf '\n[route]\ndest = %s\nvia = %s\n' "$a" "$b" ;;
			esac
		done
		printf '\n[etsi014]\nlisten = 0.0.0.0:8443\nmax-keys-per-request = %s\n' \
			"${E14_MAX_KEYS:-64}"
		printf 'cert = pki/node-%s.crt\nkey = pki/node-%s.key\nca = pki/ca.crt\n' "$id" "$id"
		for word in "$@"; do
			IFS=: read -r _ a b c <<< "$word"
			[[ $word == sae:* ]] && printf '\n[sae]\nid = %s\ncn = %s\n' "$a" "$b"
		done
		# More sections for this netns (e.g. [manager]), if the caller set them.
		[[ -z ${E14_EXTRA[$ns]:-} ]] || printf '\n%s\n' "${E14_EXTRA[$ns]}"
	} > "$work/$ns.conf"
	e14_node_of[$ns]=$id
	ip netns exec "$ns" qkdn-kmd --config "$work/$ns.conf" --log-level "${E14_LOG_LEVEL:-debug}" \
		>> "$work/$ns.log" 2>&1 &
	e14_pid[$ns]=$!
	defer e14_kmd_stop "$ns"
}

e14_kmd_stop() {
	local pid=${e14_pid[$1]} i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	e14_pid[$1]=
}

# On failure, the end of every daemon's log.
e14_dump_logs() {
	local f
	((qkdn_checks_failed > 0)) || return 0
	for f in "$work"/*.log; do
		echo "# ---- ${f##*/} (last 40 lines)"
		tail -n 40 "$f" | sed 's/^/#   /'
	done
}

e14_logged() {
	grep -q "$2" "$work/$1.log"
}

e14() {
	local ns=$1 cert=$2 method=$3 path=$4 body=${5:-} out code
	local id=${e14_node_of[$ns]}
	local args=(-sS --max-time 30 --cert "$work/pki/$cert.crt" --key "$work/pki/$cert.key"
		--cacert "$work/pki/ca.crt" --resolve "qkdn-node-$id:8443:127.0.0.1"
		-o "$work/out" -w '%{http_code}' -X "$method")
	if [[ -n $body ]]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	rm -f "$work/out"
	code=$(ip netns exec "$ns" curl "${args[@]}" "https://qkdn-node-$id:8443$path" \
		2>/dev/null) || true
	out=$(< "$work/out") || out=
	echo "${code:-000} $out"
}

e14_many() {
	local ns=$1 cert=$2 id=${e14_node_of[$1]} method path body codes i n=0 args=()
	while read -r method path body; do
		((n == 0)) || args+=(--next)
		args+=(-sS --max-time 30 --cert "$work/pki/$cert.crt" --key "$work/pki/$cert.key"
			--cacert "$work/pki/ca.crt" --resolve "qkdn-node-$id:8443:127.0.0.1"
			-o "$work/out.$n" -w '%{http_code}\n' -X "$method")
		if [[ -n $body ]]; then
			args+=(-H 'Content-Type: application/json' --data-binary "$body")
		fi
		args+=("https://qkdn-node-$id:8443$path")
		rm -f "$work/out.$n"
		n=$((n + 1))
	done
	codes=$(ip netns exec "$ns" curl "${args[@]}" 2>/dev/null) || true
	mapfile -t codes <<< "$codes"
	for ((i = 0; i < n; i++)); do
		if [[ -f $work/out.$i ]]; then
			echo "${codes[i]:-000} $(< "$work/out.$i")"
		else
			echo "${codes[i]:-000} "
		fi
	done
}

e14_refused() {
	local what=$1 code=$2 message=$3 before after reply
	shift 3
	before=$(e14_snapshot "$1")
	reply=$(e14 "$@")
	after=$(e14_snapshot "$1")
	expect_eq "$what: HTTP code" "$code" "${reply%% *}"
	expect_eq "$what: JSON error" "$message array" \
		"$(jq -r '"\(.message) \(.details | type)"' <<< "${reply#* }" 2>&1)"
	expect_eq "$what: nothing consumed" "$before" "$after"
}
