#!/usr/bin/env bash
# pushback watch against rsigma 0.23 on the same generated Okta log, in one run.
#
#   scripts/bench-watch-vs-rsigma.sh [DIR]
#
# DIR (default /tmp/pushback-bench-watch) holds the log written by
# `pushback bench watch generate`; it is generated there when missing (1,000,000 events,
# 5,000 users). Keep it out of the repository: it is about 1.5 GB.
#
# Steps: install rsigma 0.23.0 into $TOOLS (default /work/tools) if it is not there;
# write a Sigma rule equivalent to pushback's push_flood over the raw Okta fields (a push
# denial, classic or OIE; event_count >= 5 per actor.alternateId within 10 minutes, with
# event time taken from `published`, and alerts for a group suppressed for 10 minutes
# after one, as pushback reports one finding per episode); run
# `pushback bench watch run DIR --threads 1,2` and `rsigma engine eval` over okta.jsonl;
# print both rates and the ratio.
#
# Environment: PUSHBACK (default target/release/pushback, or $CARGO_TARGET_DIR's),
# TOOLS, REPEAT (runs per thread count, default 3; the median is reported), WRAP (a
# command to run each measured step under, e.g. one that pauses other work).
set -euo pipefail

DIR=${1:-/tmp/pushback-bench-watch}
TOOLS=${TOOLS:-/work/tools}
PUSHBACK=${PUSHBACK:-${CARGO_TARGET_DIR:-target}/release/pushback}
WRAP=${WRAP:-}
RSIGMA="$TOOLS/bin/rsigma"

if [ ! -x "$PUSHBACK" ]; then
    echo "no pushback binary at $PUSHBACK: cargo build --release -p pushback" >&2
    exit 2
fi
if [ ! -x "$RSIGMA" ]; then
    echo "installing rsigma 0.23.0 into $TOOLS…" >&2
    cargo install rsigma --version 0.23.0 --locked --root "$TOOLS"
fi
if [ ! -f "$DIR/okta.jsonl" ]; then
    "$PUSHBACK" bench watch generate --events 1000000 --users 5000 --out "$DIR"
fi

rules="$DIR/rsigma-rules"
mkdir -p "$rules"
cat > "$rules/okta_push_flood.yml" <<'RULE'
title: Okta push denied
id: 5d7a0c38-1f7e-4b39-9a55-3f0f3f1f6a01
name: okta_push_denial
status: experimental
logsource:
  product: okta
  service: okta
detection:
  classic:
    eventType: user.mfa.okta_verify.deny_push
  oie:
    eventType: user.authentication.auth_via_mfa
    outcome.result: FAILURE
    outcome.reason: INVALID_CREDENTIALS
    debugContext.debugData.factor: OKTA_VERIFY_PUSH
  condition: classic or oie
level: low
---
title: Okta push flood
id: 9b0a4f52-6c1d-4e8a-b7f3-2a6e5d4c3b21
name: okta_push_flood
status: experimental
correlation:
  type: event_count
  rules:
    - okta_push_denial
  group-by:
    - actor.alternateId
  timespan: 10m
  condition:
    gte: 5
level: high
RULE

events=$(wc -l < "$DIR/okta.jsonl")
floods=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["floods"]))' "$DIR/truth.json")

echo "pushback bench watch run $DIR --threads 1,2 --repeat ${REPEAT:-3}" >&2
$WRAP "$PUSHBACK" bench watch run "$DIR" --threads 1,2 --repeat "${REPEAT:-3}" --json > "$DIR/pushback.json"

echo "rsigma engine eval over $events events" >&2
start=$(date +%s.%N)
# Peak RSS through GNU time where it is installed.
timer=()
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -o "$DIR/rsigma.rss" -f %M); fi
$WRAP "${timer[@]}" "$RSIGMA" engine eval -r "$rules" -e "@$DIR/okta.jsonl" --output-format ndjson \
    --timestamp-field published --suppress 10m --no-detections \
    > "$DIR/rsigma.ndjson" 2> "$DIR/rsigma.stderr"
end=$(date +%s.%N)

python3 - "$DIR" "$events" "$floods" "$start" "$end" <<'PY'
import json, sys
d, events, floods, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
report = json.load(open(f"{d}/pushback.json"))
rows = report["median"]
truth_ok = all(r["truth"]["ok"] for r in report["runs"])
pf = {r["push_flood_findings"] for r in report["runs"]}
alerts = [json.loads(l) for l in open(f"{d}/rsigma.ndjson") if l.strip()]
flood_alerts = [a for a in alerts if a.get("rule_title") == "Okta push flood"]
secs = end - start
rs = events / secs
print(f"| engine | threads | events/s (median) | peak RSS MiB | push floods reported (injected {floods}) | ratio to rsigma |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| pushback | {r['threads']} | {r['events_per_sec']:,.0f} | {r['peak_rss_mib']:.1f} | {'/'.join(map(str, sorted(pf)))} (truth {'ok' if truth_ok else 'MISSED'}) | {r['events_per_sec'] / rs:.1f}x |")
try:
    rss = f"{int(open(f'{d}/rsigma.rss').read().split()[-1]) / 1024:.1f}"
except (OSError, ValueError, IndexError):
    rss = "-"
print(f"| rsigma 0.23.0 | 1 | {rs:,.0f} | {rss} | {len(flood_alerts)} | 1.0x |")
print(f"rsigma: {secs:.2f} s wall for {events} events (process start and rule load included)")
stats = [l.strip() for l in open(f"{d}/rsigma.stderr") if "Processed" in l]
print("rsigma says:", stats[-1] if stats else "(no summary line)")
PY
