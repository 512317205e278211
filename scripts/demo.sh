#!/usr/bin/env bash
# demo.sh - the README's first command: install missing Debian packages,
# build Notarium (Release) into build/, and run a demo server on
# 127.0.0.1:3161 with a fresh development PKI, API key and ledger in
# ${NOTARIUM_DATA:-demo-data} (reused on later runs).  Extra arguments go to
# `notarium serve`, e.g. scripts/demo.sh --listen 127.0.0.1:8080
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNT_TEST_HOOKS=OFF >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target notarium
exec build/tools/notarium serve --demo --data "${NOTARIUM_DATA:-demo-data}" "$@"
