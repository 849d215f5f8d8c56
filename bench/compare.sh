#!/usr/bin/env bash
# Side-by-side benchmark of gridmq against Mosquitto, nats-server and rumqttd.
#
# Runs the same gridmq-bench scenario against each broker on loopback with matched
# settings, one broker at a time, each run on a freshly started broker, and prints the
# median of each figure with gridmq's ratio to each peer. See docs/BENCHMARKS.md.
#
# Usage: bench/compare.sh [--duration 15s] [--warmup 2s] [--runs 3]
#                         [--scenarios fanin-q0,fanin-q1,...] [--brokers gridmq,mosquitto,...]
#                         [--out DIR] [--no-install]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/bench/peers"
RUMQTTD_VERSION="0.20.0"

DURATION="15s"
WARMUP="2s"
RUNS=3
SCENARIOS="fanin-q0,fanin-q1,fanout-q0,pairs-q1,latency-q1,conn-10k,conn-rate"
BROKERS="gridmq,mosquitto,nats,rumqttd"
OUT=""
INSTALL=1

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Scenarios (MQTT 3.1.1, 64-byte payloads, inflight 64):
  fanin-q0    fan-in, 10 publishers -> 1 wildcard subscriber, QoS 0, max rate
  fanin-q1    fan-in, 10 publishers -> 1 wildcard subscriber, QoS 1, max rate
  fanout-q0   fan-out, 1 publisher -> 100 subscribers, QoS 0, max rate
  pairs-q1    100 QoS 1 publisher/subscriber pairs, max rate
  latency-q1  fan-in 10 -> 1, QoS 1, fixed 10,000 msg/s (latency)
  durable-fanin-q1  fanin-q1 with a persistent subscriber session (Clean Session 0)
  durable-pairs-q1  pairs-q1 with persistent subscriber sessions
                    (for durable throughput: --brokers gridmq,gridmq-mem,mosquitto-persist)
  conn-10k    10,000 idle connections opened at 5,000/s, held for the duration
  conn-rate   10,000 connections opened as fast as the broker takes them (the tool
              offers 50,000/s), held for 2 s
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --scenarios) SCENARIOS="$2"; shift 2 ;;
        --brokers) BROKERS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 64 ;;
    esac
done

OUT="${OUT:-$ROOT/target/bench-compare/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridmq-compare.XXXXXX")"
BROKER_PID=""

log() { echo "compare: $*" >&2; }

stop_broker() {
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    BROKER_PID=""
}

cleanup() {
    stop_broker
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every process started from here on (brokers, the tool) may hold many sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

find_bin() {
    local name="$1"
    command -v "$name" 2>/dev/null && return 0
    for dir in /usr/sbin /usr/local/sbin "$HOME/.cargo/bin"; do
        [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return 0; }
    done
    return 1
}

install_peers() {
    local missing=()
    find_bin mosquitto >/dev/null || missing+=(mosquitto)
    find_bin nats-server >/dev/null || missing+=(nats-server)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]} from Debian"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    if ! find_bin rumqttd >/dev/null; then
        # rumqttd 0.20.0's lock file pins a `metrics` that no longer builds with current
        # compilers, so it is installed without --locked.
        log "installing rumqttd $RUMQTTD_VERSION with cargo (takes a few minutes)"
        cargo install rumqttd --version "$RUMQTTD_VERSION"
    fi
}

build() {
    log "building gridmq-bench (release)"
    (cd "$ROOT" && cargo build --release -q -p gridmq-bench)
    BENCH="$ROOT/target/release/gridmq-bench"
    GRIDMQ="$ROOT/target/release/gridmq"
    # The broker binary may not exist yet; its absence is reported when brokers are chosen.
    if (cd "$ROOT" && cargo build --release -q --bin gridmq) >"$OUT/gridmq-build.log" 2>&1; then
        log "built gridmq (release)"
    fi
}

# A port below the ephemeral range (32768 and up), so no client socket holds it, and
# with no listener on it.
free_port() {
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

render() { # template output port
    sed -e "s|@PORT@|$3|g" -e "s|@NATS_PORT@|$(free_port)|g" -e "s|@STORE@|$WORK/jetstream|g" \
        "$1" >"$2"
}

# Starts broker $1 on a free port, trying a few ports; sets BROKER_PID and PORT.
start_broker() {
    local attempt
    for attempt in 1 2 3; do
        start_broker_once "$1" && return 0
        log "retrying $1 on another port (attempt $attempt failed)"
    done
    return 1
}

start_broker_once() {
    local name="$1"
    PORT="$(free_port)"
    local log_file="$OUT/$name.log"
    case "$name" in
        gridmq)
            # The default durable store, in a fresh directory per run (the bench's
            # clean sessions never touch it; nothing is left in the working directory).
            rm -rf "$WORK/gridmq-data"
            "$GRIDMQ" serve --mqtt "127.0.0.1:$PORT" --data-dir "$WORK/gridmq-data" >>"$log_file" 2>&1 &
            ;;
        gridmq-mem)
            "$GRIDMQ" serve --mqtt "127.0.0.1:$PORT" --in-memory >>"$log_file" 2>&1 &
            ;;
        mosquitto)
            render "$PEERS/mosquitto.conf" "$WORK/mosquitto.conf" "$PORT"
            "$(find_bin mosquitto)" -c "$WORK/mosquitto.conf" >>"$log_file" 2>&1 &
            ;;
        mosquitto-persist)
            # Mosquitto's persistence: an in-memory database saved to disk every
            # autosave_interval seconds (and at exit); nothing is written per message.
            rm -rf "$WORK/mosquitto-db" && mkdir -p "$WORK/mosquitto-db"
            render "$PEERS/mosquitto.conf" "$WORK/mosquitto.conf" "$PORT"
            sed -i -e 's|^persistence false|persistence true|' "$WORK/mosquitto.conf"
            printf 'persistence_location %s/\nautosave_interval 1\n' "$WORK/mosquitto-db" >>"$WORK/mosquitto.conf"
            "$(find_bin mosquitto)" -c "$WORK/mosquitto.conf" >>"$log_file" 2>&1 &
            ;;
        nats)
            rm -rf "$WORK/jetstream"
            render "$PEERS/nats-server.conf" "$WORK/nats-server.conf" "$PORT"
            "$(find_bin nats-server)" -c "$WORK/nats-server.conf" >>"$log_file" 2>&1 &
            ;;
        rumqttd)
            render "$PEERS/rumqttd.toml" "$WORK/rumqttd.toml" "$PORT"
            "$(find_bin rumqttd)" --quiet -c "$WORK/rumqttd.toml" >>"$log_file" 2>&1 &
            ;;
    esac
    BROKER_PID=$!
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            sleep 0.2
            return 0
        fi
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "$name did not start listening on $PORT (see $log_file)"
    stop_broker
    return 1
}

scenario_args() {
    local common=(--mqtt 3.1.1 --payload 64 --duration "$DURATION" --warmup "$WARMUP" --inflight 64)
    case "$1" in
        fanin-q0) echo fan-in --publishers 10 --subscribers 1 --qos 0 "${common[@]}" ;;
        fanin-q1) echo fan-in --publishers 10 --subscribers 1 --qos 1 "${common[@]}" ;;
        fanout-q0) echo fan-out --subscribers 100 --qos 0 "${common[@]}" ;;
        pairs-q1) echo pairs --pairs 100 --qos 1 "${common[@]}" ;;
        latency-q1) echo fan-in --publishers 10 --subscribers 1 --qos 1 --rate 10000 "${common[@]}" ;;
        durable-fanin-q1) echo fan-in --publishers 10 --subscribers 1 --qos 1 --persistent-subscribers "${common[@]}" ;;
        durable-pairs-q1) echo pairs --pairs 100 --qos 1 --persistent-subscribers "${common[@]}" ;;
        conn-10k) echo connections --connections 10000 --connect-rate 5000 --duration "$DURATION" --mqtt 3.1.1 --connect-timeout 30s ;;
        conn-rate) echo connections --connections 10000 --connect-rate 50000 --duration 2s --mqtt 3.1.1 --connect-timeout 30s ;;
        *) echo "unknown scenario $1" >&2; return 1 ;;
    esac
}

broker_available() {
    case "$1" in
        gridmq|gridmq-mem)
            if [[ ! -x "$GRIDMQ" ]]; then
                log "skipping gridmq: $GRIDMQ does not exist yet"
                return 1
            fi ;;
        mosquitto|mosquitto-persist) find_bin mosquitto >/dev/null || { log "skipping mosquitto: not installed"; return 1; } ;;
        nats) find_bin nats-server >/dev/null || { log "skipping nats: not installed"; return 1; } ;;
        rumqttd) find_bin rumqttd >/dev/null || { log "skipping rumqttd: not installed"; return 1; } ;;
        *) log "unknown broker $1"; return 1 ;;
    esac
}

main() {
    local scenarios=()
    IFS=',' read -ra scenarios <<<"$SCENARIOS"
    for scenario in "${scenarios[@]}"; do
        scenario_args "$scenario" >/dev/null || exit 64
    done
    [[ "$INSTALL" == 1 ]] && install_peers
    build
    local brokers=() wanted=()
    IFS=',' read -ra wanted <<<"$BROKERS"
    for b in "${wanted[@]}"; do
        broker_available "$b" && brokers+=("$b")
    done
    log "results in $OUT"
    for scenario in "${scenarios[@]}"; do
        read -ra args <<<"$(scenario_args "$scenario")"
        for broker in "${brokers[@]}"; do
            for run in $(seq "$RUNS"); do
                log "$scenario on $broker, run $run/$RUNS"
                start_broker "$broker" || continue
                local result="$OUT/$scenario.$broker.$run.json"
                "$BENCH" "${args[@]}" --port "$PORT" --broker-pid "$BROKER_PID" --json \
                    >"$result" 2>>"$OUT/$scenario.$broker.stderr" || true
                [[ -s "$result" ]] || log "$scenario on $broker run $run produced no summary"
                stop_broker
            done
        done
    done
    python3 "$ROOT/bench/table.py" "$OUT" "${scenarios[@]}" -- "${wanted[@]}" | tee "$OUT/table.md"
}

main
