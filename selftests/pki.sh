# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Test PKI for qkdn-kmd: a CA and one certificate per node, made with the
# openssl CLI. Source it, then:
#
#   qkdn_pki DIR NODE_ID...
#
# writes into DIR (created if needed):
#   ca.crt, ca.key                 the network's CA (self-signed, EC P-256)
#   node-ID.crt, node-ID.key       per node: subject CN "qkdn-node-ID",
#                                  signed by the CA, usable as TLS client
#                                  and server
# and, once the CA exists,
#
#   qkdn_pki_issue DIR NAME CN
#
# writes NAME.crt and NAME.key with subject CN CN (an application: its SAE
# ID), the same profile as the node certificates.
#
# Key files are mode 0600 (qkdn-kmd refuses keys others can read). A CA
# already in DIR is reused, so nodes can be added by calling it again.
# For tests only: keys are unencrypted and the CA lives next to them.

qkdn_pki() {
	local dir=$1 id days=30
	shift
	if [[ -z $dir || $# -eq 0 ]]; then
		echo "usage: qkdn_pki DIR NODE_ID..." >&2
		return 2
	fi
	mkdir -p "$dir" || return 1
	(
		set -e
		umask 077
		cd "$dir"
		if [[ ! -f ca.crt || ! -f ca.key ]]; then
			openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
				-nodes -keyout ca.key -out ca.crt -days "$days" \
				-subj "/O=qkdn test/CN=qkdn test CA" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
			chmod 0644 ca.crt
		fi
		for id in "$@"; do
			if ! [[ $id =~ ^[1-9][0-9]*$ ]]; then
				echo "qkdn_pki: node ID \"$id\" is not a positive decimal number" >&2
				exit 2
			fi
			qkdn_pki_issue . "node-$id" "qkdn-node-$id"
		done
	)
}

# qkdn_pki_issue DIR NAME CN: NAME.crt and NAME.key in DIR, subject CN CN,
# signed by the CA qkdn_pki made there (an application's certificate:
# the CN is its SAE ID), usable as TLS client and server.
qkdn_pki_issue() {
	local dir=$1 name=$2 cn=$3 days=30
	(
		set -e
		umask 077
		cd "$dir"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$name.key" -out "$name.csr" \
			-subj "/O=qkdn test/CN=$cn" 2>/dev/null
		openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key \
			-CAcreateserial -out "$name.crt" -days "$days" \
			-extfile <(printf '%s\n' \
				"basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null
		rm -f "$name.csr"
		chmod 0600 "$name.key"
		chmod 0644 "$name.crt"
	)
}
