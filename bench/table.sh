#!/usr/bin/env bash
# table.sh - issue 20's targets table in one run: every series for Parley
# and Kamailio on this machine, the peers alternating which goes first
# from one series to the next, then the markdown table (table.py) with
# each row's ratio and whether its target is met. `make bench` runs it.
#
#   table.sh [what...]
#     what: call-udp call-tcp reg-udp reg-tcp regauth-udp cpu1k pss5k regmem-1m
#           pauses-1m burst (the default: the whole targets table), and the
#           optional regauthmem-udp b2bua b2bua-hold presence wss
#
#   regauth-udp     digest-auth REGISTER, durable on both sides: Parley's
#                   subscribers and bindings in SQLite, Kamailio with auth_db
#                   and usrloc write-through on SQLite (KAM_DB=sqlite)
#   regauthmem-udp  the same with Kamailio's password in its config and
#                   usrloc in memory (the earlier comparison)
#   pauses-1m       Parley only: location's BenchmarkMillionPauses (go test)
#   burst           Parley only: burst.sh, BURST_N (200000) INVITEs twice at
#                   BURST_RATE (20000)/s
#   b2bua           call ramp, parley --mode b2bua with CDRs in SQLite against
#                   KAM_MODE=b2bua; b2bua-hold: b2bua_hold.sh (Parley only,
#                   HOLD_CALLS, default 10000); presence: presence.sh at
#                   PRESENCE_RATE (500)/s; wss: e2e TestWSSRegisterRate
#                   (PARLEY_WSS_RATE connections, default 200; needs go)
#
# Env: QUICK=1 (one ramp of short steps, no latency runs: see README for
# the time of each item), OUT (results/table-DATE: one JSON-lines file
# per series, table.md), PORT_BASE (28000: the proxies listen on
# PORT_BASE+70, sipp on +80.. +91), SERIES_TIMEOUT_S (per peer and series;
# 3600, QUICK 1200), PEERS ("kamailio parley"). Each series runs under
# timeout(1) in a process group of its own, so a stuck one is ended with
# every process it started, and the next series starts clean.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
what=${*:-call-udp call-tcp reg-udp reg-tcp regauth-udp cpu1k pss5k regmem-1m pauses-1m burst}
out=${OUT:-$here/results/table-$(date -u +%Y%m%d-%H%M)}
base=${PORT_BASE:-28000}
limit=${SERIES_TIMEOUT_S:-$([ "${QUICK:-0}" = 1 ] && echo 1200 || echo 3600)}
mkdir -p "$out"
export BENCH_PORT=$((base + 70)) UAC_PORT=$((base + 80)) REG_PORT=$((base + 81)) UAS_PORT=$((base + 90))
bin=${PARLEY_BIN:-$here/../bin/parley}
[ -x "$bin" ] || { echo "table.sh: $bin missing (make build)" >&2; exit 2; }
export PARLEY_BIN=$bin

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
note() {  # $1 series file, $2 label, $3 metric, $4 value (number or null)
  printf '{"type":"value","label":"%s","metric":"%s","value":%s}\n' "$2" "$3" "${4:-null}" >>"$1"
}
bounded() { timeout --kill-after=30 "$limit" "$@" || log "$* ended with status $?"; }

# one_peer SERIES PEER: runs one series for one peer into $out/SERIES.jsonl.
one_peer() {
  local s=$1 peer=$2 f=$out/$1.jsonl start
  if [ "$peer" = kamailio ]; then start=peers/kamailio.sh; else start=./parley.sh; fi
  printf '{"type":"load","label":"%s","loadavg":"%s","ts":"%s"}\n' "$peer" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)" >>"$f"
  case $s in
    call-udp|call-tcp|reg-udp|reg-tcp)
      RESULTS=$f bounded "$here/campaign.sh" "$peer" "$start" "$s";;
    regmem-1m|regmem-100k)
      # Parley counts its bindings in /metrics: the growth is divided by
      # what it holds, not by what sipp saw answered.
      local a=127.0.0.1:$((base + 71))
      RESULTS=$f PARLEY_ADMIN=$a REGMEM_PROBE="curl -s http://$a/metrics | grep '^parley_registrations_active '" \
        bounded "$here/campaign.sh" "$peer" "$start" "$s";;
    cpu1k|pss5k) RESULTS=$f bounded "$here/campaign.sh" "$peer" "$start" "$s-udp";;
    regauth-udp) RESULTS=$f KAM_DB=sqlite PREREG_RATE=${PREREG_RATE:-1000} bounded "$here/campaign.sh" "$peer" "$start" regauth-udp;;
    regauthmem-udp) RESULTS=$f KAM_DB=memory PREREG_RATE=${PREREG_RATE:-1000} bounded "$here/campaign.sh" "$peer" "$start" regauth-udp;;
    b2bua)
      RESULTS=$f KAM_MODE=b2bua PARLEY_ARGS="--mode b2bua" PARLEY_STORAGE=sqlite PARLEY_CDR=true \
        RAMP_START_call_udp=${RAMP_START_call_udp:-250} bounded "$here/campaign.sh" "$peer" "$start" call-udp;;
    pauses-1m)
      local o
      o=$(cd "$here/.." && bounded go test -run XXX -bench 'MillionPauses$' -benchtime 1x -count "${PAUSES_COUNT:-$([ "${QUICK:-0}" = 1 ] && echo 1 || echo 3)}" ./location/)
      echo "$o" >&2
      note "$f" parley max_update_ms "$(echo "$o" | awk '/max-update-ms/{for(i=1;i<NF;i++) if($(i+1)=="max-update-ms" && $i>m) m=$i} END{print m}')"
      note "$f" parley max_gc_pause_ms "$(echo "$o" | awk '/max-gc-pause-ms/{for(i=1;i<NF;i++) if($(i+1)=="max-gc-pause-ms" && $i>m) m=$i} END{print m}')";;
    burst)
      local o
      o=$(PORT=$((base + 60)) ADMIN_PORT=$((base + 61)) BURST_N=${BURST_N:-200000} BURST_RATE=${BURST_RATE:-20000} \
        bounded "$here/burst.sh" | tail -1)
      log "burst: $o"
      read -r _ pr pp ra pa rej <<<"$o"
      note "$f" parley rss_peak_kb "$pr"; note "$f" parley pss_peak_kb "$pp"
      note "$f" parley rss_after_kb "$ra"; note "$f" parley pss_after_kb "$pa"
      note "$f" parley rejected_503 "$([[ $rej =~ ^[0-9]+$ ]] && echo "$rej" || echo null)"
      note "$f" parley burst_n "${BURST_N:-200000}"; note "$f" parley burst_rate "${BURST_RATE:-20000}";;
    b2bua-hold)
      local o
      o=$(PORT=$((base + 170)) CALLS=${HOLD_CALLS:-10000} bounded "$here/b2bua_hold.sh" | grep '^calls up:' || true)
      log "b2bua-hold: $o"
      note "$f" parley calls_up "$(echo "$o" | sed -n 's/^calls up: \([0-9]*\).*/\1/p')"
      note "$f" parley bytes_per_call "$(echo "$o" | sed -n 's/.*per call: \([0-9-]*\) bytes.*/\1/p')";;
    presence)
      local o
      o=$(PROXY_PORT=$BENCH_PORT bounded "$here/presence.sh" "${PRESENCE_RATE:-500}" "${PRESENCE_S:-20}" "$peer")
      log "presence: $o"
      note "$f" "$peer" completed_per_s "$(echo "$o" | sed -n 's/.*completed *\([0-9.]*\)\/s.*/\1/p')"
      note "$f" "$peer" failed "$(echo "$o" | sed -n 's/.*failed *\([0-9]*\) .*/\1/p')"
      note "$f" "$peer" cpu_s_per_1k "$(echo "$o" | sed -n 's/.*cpu \([0-9.]*\) s per 1000.*/\1/p')";;
    wss)
      local o
      o=$(cd "$here/.." && PARLEY_WSS_RATE=${PARLEY_WSS_RATE:-200} bounded go test -count=1 ./e2e -run 'TestWSSRegisterRate$' -v 2>&1)
      note "$f" parley register_per_s "$(echo "$o" | sed -n 's/.*parley: \([0-9.]*\) REGISTER\/s.*/\1/p' | head -1)"
      note "$f" kamailio register_per_s "$(echo "$o" | sed -n 's/.*kamailio: \([0-9.]*\) REGISTER\/s.*/\1/p' | head -1)";;
    *) echo "table.sh: unknown series $s" >&2; exit 2;;
  esac
}

# Series measured on one side only, or by a script that runs both.
solo() { case $1 in pauses-1m|burst|b2bua-hold|wss) return 0;; *) return 1;; esac; }

i=0
for s in $what; do
  if solo "$s"; then
    log "series $s"; one_peer "$s" parley
  else
    peers=${PEERS:-kamailio parley}
    if [ $((i % 2)) = 1 ]; then peers=$(echo "$peers" | awk '{for(j=NF;j>0;j--) printf "%s%s", $j, (j>1?" ":"")}'); fi
    for p in $peers; do log "series $s: $p"; one_peer "$s" "$p"; done
  fi
  i=$((i + 1))
done
"$here/table.py" "$out" | tee "$out/table.md"
