#!/usr/bin/env bash
# audit_tamper.sh - end to end: `notarium audit` against tampered copies of a
# real server's git mirror.  The demo server (mirror on by default) issues 300
# tokens in three rounds, one server run each, so its mirror holds the commits
# of sizes C (the signing certificates' leaves), 120, 220 and 300, a full level-0 tile and a level-1 tile; after
# the last run, a `git clone --bare` of the
# mirror passes the audit with every token signature checked (--trust).  Then,
# each on a fresh copy of that clone and written with plain git plumbing
# (cat-file, hash-object, update-index on a scratch index, write-tree,
# commit-tree, update-ref): a flipped byte in an entry bundle, in a level-0 and
# in a level-1 hash tile, a checkpoint whose signature is broken (a middle
# commit, the head re-chained onto it) and a dropped commit.  Each must exit 1
# with the message naming the commit, entry, tile or checkpoint (asserted on
# the text).  The untampered clone is the twin of every case.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOAD="$NT_BIN_DIR/notarium-load"

nt_setup
data="$T/data"
mirror="$data/mirror.git"
vkey="$data/pki/log.vkey"
trust="$data/pki/ca.pem"

ledger_size() {
    nt_http GET "$NT_URL/v1/checkpoint" "$T/cp.txt" >/dev/null
    sed -n 2p "$T/cp.txt"
}
head_size() { # repository [rev] -> tree size of the rev's checkpoint ("" if none)
    git -C "$1" cat-file blob "${2:-main}:checkpoint" 2>/dev/null | sed -n 2p || true
}
wait_head() { # repository size: bounded poll (20 s) for main to reach size
    local repo="$1" want="$2"
    nt_wait_for '[[ "$(head_size "$repo")" == "$want" ]]' 20 \
        "mirror never reached size $want in $repo" 'echo "at $(head_size "$repo")"'
}
issue() { # n expected-size: n tokens from notarium-load
    "$LOAD" --url "$NT_URL/tsa" --connections 2 --threads 1 --duration 30 --max-requests "$1" \
        >"$T/load.out" 2>&1 || nt_fail "load failed: $(tail -3 "$T/load.out")"
    local size
    size=$(ledger_size)
    nt_check "$size -eq $2" "ledger has $size entries, expected $2"
}

# --------------------------------------------------------------- a real mirror
# The demo server creates DATA (and the mirror's first commit, of size C: the signing
# certificates' leaves, kind 0x04, recorded before any token).  Then
# the mirror thread is told to look only once a day, so that the commits are
# exactly those of each start-up and shutdown: one per round below, at sizes
# 120, 220 and 300, whatever the machine's speed.
nt_start "$data" --log-level warn
C=$(nt_cert_leaves)
nt_check "$C -ge 1 && $C -lt 119" "$C certificate leaves recorded"
wait_head "$mirror" "$C"
nt_stop
nt_config_set "$data" '.mirror.interval_ms = 86400000'
nt_start "$data" --log-level warn
# The first token by hand (openssl ts + curl), then notarium-load.
nt_tsq "$T/q.tsq" -data "$vkey" -sha256 -cert
code=$(nt_post_tsq "$T/q.tsq" "$T/r.tsr")
nt_check "$code == 200" "POST /tsa answered $code"
nt_check "\"$(nt_reply_status "$T/r.tsr")\" == Granted" "the first token was not granted"
issue $((119 - C)) 120
nt_stop
wait_head "$mirror" 120
for round in "100 220" "80 300"; do
    nt_start "$data" --log-level warn
    issue "${round% *}" "${round#* }"
    nt_stop
    wait_head "$mirror" "${round#* }"
done
size=300

git clone -q --bare "$mirror" "$T/clone.git"
sizes=$(git -C "$T/clone.git" rev-list --reverse main | while read -r c; do
    head_size "$T/clone.git" "$c"
done | tr '\n' ' ')
nt_check "\"$sizes\" == \"$C 120 220 300 \"" "the mirror's commits hold sizes $sizes"
commits=4

audit() { # repository out-file -> exit status of notarium audit (with --trust)
    local rc=0
    "$NOTARIUM" audit --log-key "$vkey" --trust "$trust" --no-progress "$1" >"$2" 2>&1 || rc=$?
    echo "$rc"
}
# The twin of every case below: the untampered clone passes, every token checked.
rc=$(audit "$T/clone.git" "$T/clean.out")
nt_check "$rc -eq 0" "audit of the untampered clone exited $rc: $(cat "$T/clean.out")"
grep -qF "audit: OK: tree size $size," "$T/clean.out" || nt_fail "audit output: $(cat "$T/clean.out")"
grep -qF " $size token signatures" "$T/clean.out" ||
    nt_fail "not every token checked: $(cat "$T/clean.out")"

# ------------------------------------------------------------ git plumbing
copy() { # name -> a fresh copy of the clean clone, echoes its path
    rm -rf "$T/$1.git"
    cp -a "$T/clone.git" "$T/$1.git"
    echo "$T/$1.git"
}
flip_byte() { # file offset: XOR the byte at offset with 0x01
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    [[ -n "$b" ]] || nt_fail "$1 has no byte at offset $2"
    # shellcheck disable=SC2059 # the format is the one octal escape of the new byte
    printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
retree() { # repo commit path file -> id of the commit's tree with path's blob replaced by file
    local repo="$1" idx="$T/scratch.idx" blob
    rm -f "$idx"
    blob=$(git -C "$repo" hash-object -w "$4")
    GIT_INDEX_FILE="$idx" git -C "$repo" read-tree "$2^{tree}"
    GIT_INDEX_FILE="$idx" git -C "$repo" update-index --cacheinfo "100644,$blob,$3"
    GIT_INDEX_FILE="$idx" git -C "$repo" write-tree
    rm -f "$idx"
}
recommit() { # repo commit tree [parent] -> a copy of commit (message, author, committer, dates)
    local repo="$1" c="$2" t="$3" p=()
    [[ $# -ge 4 ]] && p=(-p "$4")
    git -C "$repo" log -1 --format=%B "$c" >"$T/msg"
    GIT_AUTHOR_NAME="$(git -C "$repo" log -1 --format=%an "$c")" \
        GIT_AUTHOR_EMAIL="$(git -C "$repo" log -1 --format=%ae "$c")" \
        GIT_AUTHOR_DATE="$(git -C "$repo" log -1 --format=%ad --date=raw "$c")" \
        GIT_COMMITTER_NAME="$(git -C "$repo" log -1 --format=%cn "$c")" \
        GIT_COMMITTER_EMAIL="$(git -C "$repo" log -1 --format=%ce "$c")" \
        GIT_COMMITTER_DATE="$(git -C "$repo" log -1 --format=%cd --date=raw "$c")" \
        git -C "$repo" commit-tree "$t" "${p[@]}" -F "$T/msg"
}
# The head commit with one file's byte flipped (same parent, same message);
# echoes the new head's id.
tamper_head_file() { # repo path offset
    local repo="$1" t c
    git -C "$repo" cat-file blob "main:$2" >"$T/blob"
    flip_byte "$T/blob" "$3"
    t=$(retree "$repo" main "$2" "$T/blob")
    c=$(recommit "$repo" main "$t" "$(git -C "$repo" rev-parse main~1)")
    git -C "$repo" update-ref refs/heads/main "$c"
    echo "$c"
}
hex32() { # file offset -> the 32 bytes at offset as lowercase hex
    od -An -tx1 -v -j "$2" -N32 "$1" | tr -d ' \n'
}
entry0_hash() { # bundle file -> RFC 9162 leaf hash SHA-256(0x00 || leaf) of its entry 0
    local n
    n=$(od -An -tu1 -N2 "$1" | awk '{ print $1 * 256 + $2 }')
    { printf '\000'; tail -c +3 "$1" | head -c "$n"; } | sha256sum | cut -d' ' -f1
}
expect_fail() { # name repo commit text...: audit exits 1 naming the commit and each text
    local name="$1" repo="$2" c="$3" rc
    shift 3
    [[ "$(git -C "$repo" rev-parse main)" != "$(git -C "$T/clone.git" rev-parse main)" ]] ||
        nt_fail "$name: the tampered copy has the clean head"
    rc=$(audit "$repo" "$T/$name.out")
    nt_check "$rc -eq 1" "$name: audit exited $rc: $(cat "$T/$name.out")"
    grep -qF "audit: FAILED: commit ${c:0:12}: " "$T/$name.out" ||
        nt_fail "$name: the message does not name commit ${c:0:12}: $(cat "$T/$name.out")"
    local want
    for want in "$@"; do
        grep -qF -- "$want" "$T/$name.out" ||
            nt_fail "$name: the message lacks '$want': $(cat "$T/$name.out")"
    done
    echo "$name: $(grep FAILED "$T/$name.out")"
}

# 300 = 256 + 44: tile/0/000 and tile/entries/000 are full, the head adds the
# partial tile/0/001.p/44, tile/entries/001.p/44 (entries 256..299) and tile/1/000.p/1.

# ------------------------------------------------------- a flipped bundle byte
# Entry 0 of the bundle (entry 256) starts at offset 2; offset 300 lies in its token.
# Expected: the tampered leaf's hash, found: the tile's hash 0.
repo=$(copy bundle)
c=$(tamper_head_file "$repo" tile/entries/001.p/44 300)
git -C "$T/clone.git" cat-file blob main:tile/0/001.p/44 >"$T/tile0.orig"
expect_fail bundle "$repo" "$c" "entry 256: tile/entries/001.p/44 entry 0 hashes to \
$(entry0_hash "$T/blob"), but tile/0/001.p/44 has $(hex32 "$T/tile0.orig" 0) at position 0"

# ------------------------------------------------------- flipped tile bytes
# Level 0: a byte of hash 10 (entry 266).
repo=$(copy tile0)
c=$(tamper_head_file "$repo" tile/0/001.p/44 $((10 * 32 + 7)))
expect_fail tile0 "$repo" "$c" "entry 266: tile/entries/001.p/44 entry 10 hashes to \
$(hex32 "$T/tile0.orig" 320), but tile/0/001.p/44 has $(hex32 "$T/blob" 320) at position 10"
# Level 1: its only hash, the root of tile/0/000, no longer matches the entries.
repo=$(copy tile1)
c=$(tamper_head_file "$repo" tile/1/000.p/1 5)
git -C "$T/clone.git" cat-file blob main:tile/1/000.p/1 >"$T/tile1.orig"
expect_fail tile1 "$repo" "$c" \
    "tile/1/000.p/1: hash 0 is $(hex32 "$T/blob" 0), rebuilt from the entries $(hex32 "$T/tile1.orig" 0)"

# ------------------------------------------------ a checkpoint's bad signature
# The middle commit of size 220: one base64 character of its signature changed,
# and the head re-chained onto the rewritten commit (its trailers untouched).
repo=$(copy signature)
mid=$(git -C "$repo" rev-parse main~1)
nt_check "$(head_size "$repo" "$mid") -eq 220" "main~1 holds size $(head_size "$repo" "$mid")"
git -C "$repo" cat-file blob "$mid:checkpoint" >"$T/cp.orig"
sigline=$(tail -n1 "$T/cp.orig")
sig=${sigline##* }
ch=${sig:20:1}
[[ "$ch" == A ]] && nch=B || nch=A
head -n -1 "$T/cp.orig" >"$T/cp.bad"
printf '%s%s%s\n' "${sigline% *} ${sig:0:20}" "$nch" "${sig:21}" >>"$T/cp.bad"
nt_check "$(wc -c <"$T/cp.bad") -eq $(wc -c <"$T/cp.orig")" "the checkpoint changed length"
cmp -s "$T/cp.orig" "$T/cp.bad" && nt_fail "the checkpoint did not change"
t=$(retree "$repo" "$mid" checkpoint "$T/cp.bad")
mid2=$(recommit "$repo" "$mid" "$t" "$(git -C "$repo" rev-parse main~2)")
h2=$(recommit "$repo" main "$(git -C "$repo" rev-parse 'main^{tree}')" "$mid2")
git -C "$repo" update-ref refs/heads/main "$h2"
origin=$(head -n1 "$T/cp.orig")
expect_fail signature "$repo" "$mid2" "checkpoint of size 220: no valid signature by $origin+"

# ------------------------------------------------------------ a dropped commit
# The head (size 300) re-parented onto its grandparent: the commit of size 220
# is gone, tree and message unchanged.
repo=$(copy dropped)
grand_size=$(head_size "$repo" main~2)
nt_check "$grand_size -lt 220" "main~2 holds size $grand_size"
h2=$(recommit "$repo" main "$(git -C "$repo" rev-parse 'main^{tree}')" \
    "$(git -C "$repo" rev-parse main~2)")
git -C "$repo" update-ref refs/heads/main "$h2"
expect_fail dropped "$repo" "$h2" \
    "checkpoint of size 300 says it follows size 220, but its parent holds size $grand_size" \
    "a commit was dropped or reordered"

echo "audit_tamper: ok ($commits commits of $size entries audited; 5 tampered copies refused)"
