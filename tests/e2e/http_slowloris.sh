#!/usr/bin/env bash
# http_slowloris.sh - issue 13 item 6: slow clients cannot deny service.
#   1. per address: one address (127.0.0.2) opening 20 connections keeps at most
#      http.max_connections_per_address (8) of them; the rest are closed at once,
#      and another address (127.0.0.1) is still served (/healthz, a token).
#   2. per request: a connection that trickles its headers a byte every 0.2 s
#      is closed after http.request_timeout_ms (2 s) although every byte would
#      have reset libmicrohttpd's idle time-out; counted in /metrics.
#   3. reserve: with more than max_connections - reserved_connections (48 - 8)
#      connections open, a request other than /healthz or /metrics gets 503 +
#      Retry-After + Connection: close, and /healthz is still answered 200.
#   4. the caps are the accept thread's, over both workers (tsa/http_accept.c):
#      of 56 connections (8 from each of 7 addresses) 48 are kept, 8 closed at
#      once; both refusals are logged; and every closed connection gives its
#      counts back (300 short connections from one address are all served).
# The whole 127.0.0.0/8 is loopback on Linux: clients bind 127.0.0.2.. to be
# different addresses.  The client is a small python3 script below.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nt_setup
D="$T/data"
nt_demo_config "$D" '.http = {"max_connections": 48, "reserved_connections": 8,
    "max_connections_per_address": 8, "request_timeout_ms": 2000}'
nt_start_nodemo "$D" --threads 2
ADDR=${NT_URL#http://}

cat >"$T/loris.py" <<'PY'
# loris.py PORT MODE: slow-loris clients against 127.0.0.1:PORT, JSON result on stdout.
import json, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]

def trickler(src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(('127.0.0.1', port))
    s.setblocking(False)
    s.send(b'GET /healthz HTTP/1.1\r\nHost: x\r\n')
    return {'sock': s, 'start': time.monotonic(), 'closed': None}

def poll(conns, until, trickle=0.2):
    # Trickle one header byte per connection every `trickle` s; note when the server closes.
    last = 0.0
    while time.monotonic() < until and any(c['closed'] is None for c in conns):
        now = time.monotonic()
        for c in conns:
            if c['closed'] is not None:
                continue
            try:
                if c['sock'].recv(4096) == b'':
                    c['closed'] = now - c['start']
                    continue
            except BlockingIOError:
                pass
            except OSError:
                c['closed'] = now - c['start']
                continue
            if now - last >= trickle:
                try:
                    c['sock'].send(b'X')
                except OSError:
                    c['closed'] = now - c['start']
        if now - last >= trickle:
            last = now
        time.sleep(0.01)

def fetch(path):
    # the whole reply of one GET on its own connection, as text
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    return out.decode('latin1')

def request(path):
    head = fetch(path).split('\r\n\r\n', 1)[0]
    return {'status': int(head.split()[1]), 'retry_after': 'retry-after' in head.lower(),
            'close': 'connection: close' in head.lower()}

def open_connections():
    for line in fetch('/metrics').splitlines():
        if line.startswith('notarium_http_connections '):
            return int(line.split()[1])
    return -1

if mode == 'per_address':
    conns = [trickler('127.0.0.2') for _ in range(20)]
    poll(conns, time.monotonic() + 0.5)
    early = sum(1 for c in conns if c['closed'] is not None)
    print(json.dumps({'early_closed': early}), flush=True)
    poll(conns, time.monotonic() + 10)
    late = [c['closed'] for c in conns if c['closed'] is not None and c['closed'] >= 0.5]
    print(json.dumps({'late_closed': len(late), 'min_s': min(late or [0]),
                      'max_s': max(late or [0]),
                      'open': sum(1 for c in conns if c['closed'] is None)}))
elif mode == 'cap':
    # 7 addresses x 8 (each within its cap): 56 against max_connections 48
    conns = []
    for a in range(10, 17):
        conns += [trickler('127.0.0.%d' % a) for _ in range(8)]
    poll(conns, time.monotonic() + 0.5)
    print(json.dumps({'opened': len(conns),
                      'early_closed': sum(1 for c in conns if c['closed'] is not None)}))
else:
    conns = []
    for a in range(3, 8):
        conns += [trickler('127.0.0.%d' % a) for _ in range(8)]
    conns += [trickler('127.0.0.8') for _ in range(2)]
    # A connection is counted when its worker takes it (after the accept thread hands it
    # over), a moment after connect() returns here: wait until the server counts all of
    # them (notarium_http_connections, which counts the /metrics request itself too).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open_connections() < len(conns) + 1:
        time.sleep(0.01)
    print(json.dumps({'opened': len(conns), 'counted': open_connections() - 1,
                      'checkpoint': request('/v1/checkpoint'), 'healthz': request('/healthz')}))
PY

# 1 + 2: per address, and the deadline.  Another address is served meanwhile.
python3 "$T/loris.py" "${ADDR##*:}" per_address >"$T/pa.out" &
loris=$!
nt_wait_for '[[ -s "$T/pa.out" ]]' 10 "the per-address attacker printed nothing"
nt_check "$(jq -s '.[0].early_closed' "$T/pa.out") -ge 12" \
    "per-address cap: $(head -n1 "$T/pa.out") of 20 closed at once, want >= 12"
nt_check "$(nt_http GET "$NT_URL/healthz" "$T/h.json") == 200" "/healthz from 127.0.0.1 during the attack"
nt_tsq "$T/a.tsq" -digest "$(printf 'a%.0s' {1..64})" -sha256 -cert
nt_check "$(nt_post_tsq "$T/a.tsq" "$T/a.tsr") == 200" "a token from 127.0.0.1 during the attack"
wait "$loris"
r=$(tail -n1 "$T/pa.out")
nt_check "$(jq .open <<<"$r") == 0" "trickling connections still open after 10 s: $r"
nt_check "$(jq .late_closed <<<"$r") -ge 1" "no trickling connection was held: $r"
# Closed by the 2 s deadline, not by the 30 s idle time-out (every 0.2 s a byte arrived).
jq -e '.min_s >= 1.5 and .max_s < 6' <<<"$r" >/dev/null || nt_fail "deadline closes at odd times: $r"
curl -sS "$NT_URL/metrics" >"$T/m.txt"
ended=$(sed -n 's/^notarium_http_deadline_closed_total \([0-9]*\)$/\1/p' "$T/m.txt")
nt_check "${ended:-0} -ge $(jq .late_closed <<<"$r")" "notarium_http_deadline_closed_total ${ended:-none}"

# 3: the reserve.  42 trickling connections from 6 addresses (8 each at most): above 40.
python3 "$T/loris.py" "${ADDR##*:}" reserve >"$T/rs.out"
r=$(cat "$T/rs.out")
nt_check "$(jq .opened <<<"$r") == 42" "reserve: $r"
jq -e '.checkpoint.status == 503 and .checkpoint.retry_after and .checkpoint.close' <<<"$r" \
    >/dev/null || nt_fail "inside the reserve a read was not refused 503 + Retry-After: $r"
jq -e '.healthz.status == 200' <<<"$r" >/dev/null || nt_fail "inside the reserve /healthz: $r"

# Afterwards (the guard has closed the trickling connections) everything is served again.
nt_wait_for 'code=$(nt_http GET "$NT_URL/v1/checkpoint" "$T/cp"); [[ "$code" == 200 ]]' 10 \
    "/v1/checkpoint after the attack" 'echo "HTTP $code"'

# 4: the total cap, counted over both workers.
r=$(python3 "$T/loris.py" "${ADDR##*:}" cap)
nt_check "$(jq .early_closed <<<"$r") == 8" "max_connections 48: of 56 connections want 8 closed at once: $r"
grep -q 'new connection closed: http.max_connections_per_address reached' "$NT_LOG" ||
    nt_fail "the per-address refusals were not logged"
grep -q 'new connection closed: http.max_connections reached' "$NT_LOG" ||
    nt_fail "the max_connections refusals were not logged"
nt_wait_for 'code=$(nt_http GET "$NT_URL/v1/checkpoint" "$T/cp"); [[ "$code" == 200 ]]' 10 \
    "/v1/checkpoint after the cap" 'echo "HTTP $code"'
# No count is kept for a closed connection: 300 connections in turn, 4 at a time, from the
# address whose cap is 8 and beyond max_connections in all.
out=$("$NT_BIN_DIR/notarium-load" --url "$NT_URL/tsa" --connections 4 --threads 1 \
    --max-requests 300 --duration 60 --no-keepalive --stall-ms 5000 | grep '^RESULT ')
nt_check "$(sed -n 's/.* granted=\([0-9]*\).*/\1/p' <<<"$out") == 300" \
    "300 short connections after the attacks: $out"
nt_stop
echo "ok: per-address cap, per-request deadline, the /healthz reserve and the total cap hold"
