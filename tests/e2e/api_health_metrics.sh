#!/usr/bin/env bash
# api_health_metrics.sh - GET /healthz reports readiness, clock, key,
# certificate and ledger state (200 when ready); GET /metrics is Prometheus
# text whose counters move with the traffic: tokens by status (granted and a
# rejection's failInfo), HTTP requests by code, the latency histogram, clock
# state, ledger size, queue depth, batches (and their commit durations) and
# failed appends.  The request
# log has one JSON line per request with method, path, status, alg, fail,
# latency_ms and leaf.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup

D="$T/data"
nt_start "$D" --log-level info
code=$(nt_http GET "$NT_URL/healthz" "$T/h.json")
nt_check "$code == 200" "/healthz HTTP $code"
j() { jq -r "$1" "$T/h.json"; }
nt_check "\"$(j .ready)\" == true" "not ready"
nt_check "\"$(j .clock.state)\" == synchronised" "clock state $(j .clock.state)"
nt_check "\"$(j .clock.allow_unsynced)\" == true" "demo allows an unsynchronised clock"
nt_check "\"$(j .key.type)\" == ec-p256" "key type $(j .key.type)"
nt_check "\"$(j .certificate.subject)\" == *CN=* " "certificate subject $(j .certificate.subject)"
nt_check "$(j .certificate.days_left) -gt 30" "days_left $(j .certificate.days_left)"
nt_check "\"$(j .certificate.not_after)\" == 20* " "not_after $(j .certificate.not_after)"
# A fresh ledger holds only the signing certificates' leaves (kind 0x04).
C=$(nt_cert_leaves)
nt_check "$C -ge 1" "no certificate leaf recorded"
nt_check "$(j .ledger.size) == $C" "fresh ledger size $(j .ledger.size), $C certificate leaves"
nt_check "$(j .ledger.queue_depth) == 0" "queue depth $(j .ledger.queue_depth)"
nt_check "\"$(j .ledger.full)\" == false" "ledger full"

metric() { # name-with-labels
    curl -sS "$NT_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
g0=$(metric 'notarium_tokens_total{status="granted"}')
b0=$(metric 'notarium_tokens_total{status="badDataFormat"}')
r0=$(metric 'notarium_http_requests_total{code="200"}')
n0=$(metric 'notarium_http_requests_total{code="404"}')
nt_check "-n \"$g0\" && -n \"$b0\" && -n \"$r0\"" "metrics missing"

echo "metrics doc" >"$T/doc.txt"
nt_tsq "$T/q.tsq" -data "$T/doc.txt" -sha384 -cert
for i in 1 2 3; do nt_post_tsq "$T/q.tsq" "$T/r.tsr" >/dev/null; done
echo garbage >"$T/bad.tsq"
nt_post_tsq "$T/bad.tsq" "$T/bad.tsr" >/dev/null
curl -sS -o /dev/null "$NT_URL/nowhere"

curl -sS -D "$T/m.hdr" "$NT_URL/metrics" >"$T/metrics.txt"
grep -qi '^Content-Type: text/plain' "$T/m.hdr" || nt_fail "/metrics is not text/plain"
nt_check "$(metric 'notarium_tokens_total{status="granted"}') == $((g0 + 3))" "granted counter"
nt_check "$(metric 'notarium_tokens_total{status="badDataFormat"}') == $((b0 + 1))" "badDataFormat counter"
nt_check "$(metric 'notarium_http_requests_total{code="404"}') == $((n0 + 1))" "404 counter"
nt_check "$(metric 'notarium_http_requests_total{code="200"}') -ge $((r0 + 4))" "200 counter"
for m in notarium_http_request_duration_seconds_count notarium_clock_synchronised \
    notarium_ledger_size notarium_ledger_queue_depth notarium_ledger_batches_total \
    notarium_ledger_appends_failed_total notarium_overload_total; do
    grep -q "^$m " "$T/metrics.txt" || nt_fail "/metrics lacks $m"
done
grep -q '^notarium_http_request_duration_seconds_bucket{le="+Inf"} ' "$T/metrics.txt" ||
    nt_fail "/metrics lacks the +Inf latency bucket"
nt_check "$(metric notarium_ledger_size) == $((C + 3))" "ledger size metric $(metric notarium_ledger_size)"
nt_check "$(metric notarium_clock_synchronised) == 1" "clock metric"
nt_check "$(metric notarium_ledger_batches_total) -ge 1" "no batches counted"
# Histogram buckets are cumulative: +Inf equals the count.
inf=$(awk '$1 == "notarium_http_request_duration_seconds_bucket{le=\"+Inf\"}" { print $2 }' "$T/metrics.txt")
cnt=$(awk '$1 == "notarium_http_request_duration_seconds_count" { print $2 }' "$T/metrics.txt")
nt_check "$inf == $cnt" "+Inf bucket $inf != count $cnt"
# The ledger's commit durations: one per batch committed, buckets cumulative.
inf=$(awk '$1 == "notarium_ledger_commit_seconds_bucket{le=\"+Inf\"}" { print $2 }' "$T/metrics.txt")
cnt=$(awk '$1 == "notarium_ledger_commit_seconds_count" { print $2 }' "$T/metrics.txt")
nt_check "${cnt:-0} == $(metric notarium_ledger_batches_total)" "commit histogram count ${cnt:-none}"
nt_check "${inf:-0} == ${cnt:-0}" "commit +Inf bucket ${inf:-none} != count ${cnt:-none}"
awk '/^notarium_ledger_commit_seconds_bucket/ { if ($2 < last) bad = 1; last = $2 } END { exit bad }' \
    "$T/metrics.txt" || nt_fail "commit histogram buckets are not cumulative"
awk '$1 == "notarium_ledger_commit_seconds_sum" { exit !($2 > 0) }' "$T/metrics.txt" ||
    nt_fail "commit histogram sum is not positive"

# One structured log line per request.
nt_stop
grep '"msg":"request"' "$NT_LOG" | grep '"path":"/tsa"' | grep '"status":200' | grep '"alg":"sha384"' |
    grep -q "\"leaf\":$((C + 2))" || nt_fail "no request log line for the third token"
grep '"msg":"request"' "$NT_LOG" | grep -q '"fail":"badDataFormat"' || nt_fail "no log line for the rejection"
grep '"msg":"request"' "$NT_LOG" | grep '"path":"/nowhere"' | grep -q '"latency_ms":' ||
    nt_fail "no log line for the 404"
echo "api_health_metrics: ok"
