#!/usr/bin/env bash
# bench-audit.sh - the audit benchmark of docs/PERFORMANCE.md ("Mirror and
# audit"): openssl's own SHA-256 and ECDSA P-256 figures on this machine,
# then notarium-bench-audit on a mirror of LEAVES leaves (default 10^6),
# without and with token signature checks (TOKENS distinct real tokens;
# with them, once with one token worker per core and once with one).
# usage: scripts/bench-audit.sh BUILD_DIR [LEAVES] [TOKENS]
set -euo pipefail
build=${1:?usage: scripts/bench-audit.sh BUILD_DIR [LEAVES] [TOKENS]}
leaves=${2:-1000000}
tokens=${3:-256}
echo "== $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== openssl speed -seconds 2 sha256"
openssl speed -seconds 2 sha256 2>/dev/null | tail -n 2
echo "== openssl speed -seconds 2 ecdsap256"
openssl speed -seconds 2 ecdsap256 2>/dev/null | tail -n 2
echo "== notarium-bench-audit --leaves $leaves --tokens $tokens"
"$build/tools/notarium-bench-audit" --leaves "$leaves" --tokens "$tokens"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
