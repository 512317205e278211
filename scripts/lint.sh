#!/usr/bin/env bash
# lint.sh - the project's lint pass (run by scripts/test.sh as its `lint` pass, and by
# hand before a commit).  Fails on the first class of finding it reports:
#   format   every tracked .c/.h file is clang-format clean with the repo's .clang-format
#            (clang-format --dry-run -Werror); `scripts/lint.sh --fix` reformats in place
#   grep     the project's own simple mistakes, in the spirit of s2n-tls's
#            grep_simple_mistakes: each rule names the files it allows
#   size     no product source file over 800 lines (tests, benchmarks and fixtures excepted)
#   cppcheck warnings and portability findings in the product tree (style is left to review)
# Options: --fix (reformat, then check the rest), --no-cppcheck.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fix=0 cppcheck=1
for a; do
    case "$a" in
    --fix) fix=1 ;;
    --no-cppcheck) cppcheck=0 ;;
    *) echo "usage: scripts/lint.sh [--fix] [--no-cppcheck]" >&2; exit 2 ;;
    esac
done
status=0
fail() { echo "lint: $*" >&2; status=1; }

mapfile -t sources < <(git ls-files '*.c' '*.h')
product=()
for f in "${sources[@]}"; do
    case "$f" in tests/* | tools/bench_*) ;; *) product+=("$f") ;; esac
done

# ---- format
if [[ $fix -eq 1 ]]; then
    clang-format -i "${sources[@]}"
fi
bad=()
for f in "${sources[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [[ ${#bad[@]} -gt 0 ]]; then
    fail "format: ${#bad[@]} file(s) differ from .clang-format (scripts/lint.sh --fix): ${bad[*]}"
fi

# ---- grep rules: pattern, files where it is allowed (extended regex on the path), why
rule() { # name pattern allowed-path-regex message
    local name="$1" pattern="$2" allowed="$3" message="$4" hits
    hits=$(grep -nE "$pattern" "${product[@]}" | grep -vE "^($allowed):" || true)
    if [[ -n "$hits" ]]; then
        fail "$name: $message"
        echo "$hits" | sed 's/^/    /' >&2
    fi
}
# A fallible function returns a negative NT_E* code with a message, never a bare -1.
# Allowed: walkers and reply builders whose -1 means "refused, the reason is beside it"
# (tsa/request.c's strict-DER walker, ledger/audit_der.c's splitter, the server's request
# parsers that fill a 4xx reply: server_api.c, server_body.c, server_evidence.c, server_cases*.c),
# OpenSSL's callback contract (certs/load.c's pem_password_cb), and util's own.
rule bare-return 'return -1;' \
    'util/[a-z_]*\.c|tsa/request\.c|ledger/audit_der\.c|tsa/server_api\.c|tsa/server_body\.c|tsa/server_evidence\.c|tsa/server_cases[a-z_]*\.c|certs/load\.c' \
    "return a negative NT_E* code with nt_error_set, not -1"
# Allocation goes through nt_malloc & co (failure injection, overflow checks).
rule raw-alloc '(^|[^_a-z])(malloc|calloc|realloc)\(' 'util/mem.c' \
    "allocate with nt_malloc/nt_calloc/nt_realloc (util/mem.c), not libc"
# Secrets and MACs are compared in constant time.
rule memcmp-secret 'memcmp\([^)]*(key|secret|mac|hash_of_key|pin)' '' \
    "compare secrets with CRYPTO_memcmp"
# Headers are included from the repository root ("ledger/ledger.h"), never by a relative path.
rule relative-include '#include "\.\./' '' "include from the repository root"
# One library per file: lmdb, microhttpd and git2 stay in their owners.
rule lmdb-owner '#include <lmdb\.h>' 'ledger/store[a-z_]*\.[ch]' "only ledger/store*.c include <lmdb.h>"
rule mhd-owner '#include <microhttpd\.h>' 'tsa/http[a-z_]*\.[ch]' \
    "only tsa/http*.c include <microhttpd.h>"
rule git2-owner '#include <git2\.h>' 'ledger/mirror_git\.c|ledger/mirror_write\.c|ledger/mirror_git_int\.h' \
    "only ledger/mirror_git.c and mirror_write.c (through mirror_git_int.h) include <git2.h>"
# No VLAs, no gets/sprintf/strcpy.
rule unsafe-libc '(^|[^_a-z])(gets|sprintf|strcpy|strcat)\(' '' \
    "use snprintf / nt_buf, not gets/sprintf/strcpy/strcat"

# ---- size
for f in "${product[@]}"; do
    n=$(wc -l <"$f")
    if [[ $n -gt 800 ]]; then
        fail "size: $f has $n lines (split it along its section banners; limit 800)"
    fi
done

# ---- cppcheck
if [[ $cppcheck -eq 1 ]]; then
    if ! command -v cppcheck >/dev/null; then
        fail "cppcheck: not installed (scripts/deps.sh installs it)"
    else
        out=$(cppcheck --quiet --enable=warning,portability --inline-suppr --error-exitcode=0 \
            --suppress=missingIncludeSystem -I . -D__GNUC__ --std=c11 \
            "${product[@]}" 2>&1 | grep -v '^$' || true)
        if [[ -n "$out" ]]; then
            fail "cppcheck:"
            echo "$out" | sed 's/^/    /' >&2
        fi
    fi
fi

if [[ $status -eq 0 ]]; then
    echo "lint: clean (${#sources[@]} files; ${#product[@]} product files)"
fi
exit $status
