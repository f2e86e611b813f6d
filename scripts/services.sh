#!/usr/bin/env bash
# Start, stop and inspect the local Elasticsearch, ClickHouse and Redis that the
# service runs on when there is no Docker. Each listens on a loopback port of its
# own and keeps its data under .local/, so nothing collides with a system copy.
#
#   scripts/services.sh start [elasticsearch|clickhouse|redis ...]
#   scripts/services.sh stop  [elasticsearch|clickhouse|redis ...]
#   scripts/services.sh status
#
# Starting a service that already responds does nothing, so every caller (make
# run, make test, the pytest fixtures, CI) can call "start" without checking.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Installs live in local_dir; data, pid files and logs in state_dir. A test that
# stops a service starts a private instance with LOCAL_STATE_DIR and the port
# variables below set, so other test sessions keep their servers.
local_dir="${LOCAL_DIR:-$root/.local}"
state_dir="${LOCAL_STATE_DIR:-$local_dir}"
# shellcheck source=scripts/versions.sh
source "$root/scripts/versions.sh"

es_home="$local_dir/elasticsearch-$ES_VERSION"
es_data="$state_dir/data/elasticsearch"
ch_data="$state_dir/data/clickhouse"
redis_data="$state_dir/data/redis"
run_dir="$state_dir/run"
log_dir="$state_dir/log"

es_port="${LOCAL_ES_PORT:-9201}"
ch_tcp_port="${LOCAL_CLICKHOUSE_PORT:-9002}"
ch_http_port="${LOCAL_CLICKHOUSE_HTTP_PORT:-8124}"
redis_port="${LOCAL_REDIS_PORT:-6380}"

# Seconds a start waits for the service to respond before it reports failure.
start_timeout="${SERVICE_START_TIMEOUT:-120}"

mkdir -p "$run_dir" "$log_dir"

log() { printf '%s services: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

wait_until() {
  local what=$1 check=$2 deadline=$((SECONDS + start_timeout))
  until eval "$check" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what did not respond within ${start_timeout}s; see $log_dir/$what.log"
      tail -n 30 "$log_dir/$what.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- Elasticsearch -----------------------------------------------------------

es_ready() { curl -fsS -o /dev/null 2>/dev/null "http://127.0.0.1:$es_port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null; }

start_elasticsearch() {
  if es_ready; then log "elasticsearch already responds on $es_port"; return; fi
  [[ -x $es_home/bin/elasticsearch ]] || { log "elasticsearch $ES_VERSION is not installed; run scripts/setup.sh"; return 1; }
  mkdir -p "$es_data" "$log_dir/elasticsearch" "$run_dir/elasticsearch"
  chown -R "$ES_USER" "$es_home" "$es_data" "$log_dir/elasticsearch" "$run_dir/elasticsearch"

  # Elasticsearch refuses to run as root, so it runs as a user of its own.
  # The integ-test distribution ships only core modules, hence security off.
  local java_home
  java_home=$(es_java_home)
  runuser -u "$ES_USER" -- env ES_JAVA_HOME="$java_home" \
    ES_JAVA_OPTS="-Xms${ES_HEAP:-768m} -Xmx${ES_HEAP:-768m}" \
    "$es_home/bin/elasticsearch" -d -p "$run_dir/elasticsearch/elasticsearch.pid" \
    -E cluster.name=shopsearch-local -E node.name=local \
    -E discovery.type=single-node -E xpack.security.enabled=false \
    -E network.host=127.0.0.1 -E http.port="$es_port" -E transport.port="$((es_port + 100))" \
    -E path.data="$es_data" -E path.logs="$log_dir/elasticsearch" \
    -E cluster.routing.allocation.disk.threshold_enabled=false \
    -E action.destructive_requires_name=false \
    >"$log_dir/elasticsearch.log" 2>&1
  wait_until elasticsearch es_ready
  log "elasticsearch $ES_VERSION responds on 127.0.0.1:$es_port"
}

stop_elasticsearch() { stop_pidfile elasticsearch "$run_dir/elasticsearch/elasticsearch.pid"; }

# --- ClickHouse --------------------------------------------------------------

ch_ready() { curl -fsS -o /dev/null 2>/dev/null "http://127.0.0.1:$ch_http_port/ping" >/dev/null; }

start_clickhouse() {
  if ch_ready; then log "clickhouse already responds on $ch_tcp_port"; return; fi
  mkdir -p "$ch_data/tmp" "$ch_data/user_files" "$ch_data/format_schemas"
  local config="$run_dir/clickhouse-config.xml"
  sed -e "s#@DATA@#$ch_data#g" -e "s#@TCP_PORT@#$ch_tcp_port#g" \
      -e "s#@HTTP_PORT@#$ch_http_port#g" -e "s#@LOG@#$log_dir#g" \
      "$root/scripts/clickhouse-config.xml" >"$config"
  nohup clickhouse-server --config-file="$config" >"$log_dir/clickhouse.log" 2>&1 &
  echo $! >"$run_dir/clickhouse.pid"
  wait_until clickhouse ch_ready
  log "clickhouse responds on 127.0.0.1:$ch_tcp_port (native) and $ch_http_port (http)"
}

stop_clickhouse() { stop_pidfile clickhouse; }

# --- Redis -------------------------------------------------------------------

redis_ready() { redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if redis_ready; then log "redis already responds on $redis_port"; return; fi
  mkdir -p "$redis_data"
  # AOF with an fsync every second: queued tasks and buffered events survive a
  # restart, losing at most the last second if the machine itself goes down.
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$redis_data" \
    --appendonly yes --appendfsync everysec --save "" --databases 64 \
    --daemonize yes --pidfile "$run_dir/redis.pid" --logfile "$log_dir/redis.log"
  wait_until redis redis_ready
  log "redis responds on 127.0.0.1:$redis_port (AOF on)"
}

stop_redis() { stop_pidfile redis; }

# --- common ------------------------------------------------------------------

stop_pidfile() {
  local name=$1 pidfile=${2:-$run_dir/$1.pid}
  if ! pid_alive "$pidfile"; then log "$name is not running"; return; fi
  local pid deadline=$((SECONDS + 60))
  pid=$(cat "$pidfile")
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then log "$name did not stop in 60s; killing it"; kill -9 "$pid"; break; fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "$name stopped"
}

status() {
  es_ready && echo "elasticsearch up 127.0.0.1:$es_port" || echo "elasticsearch down"
  ch_ready && echo "clickhouse up 127.0.0.1:$ch_tcp_port" || echo "clickhouse down"
  redis_ready && echo "redis up 127.0.0.1:$redis_port" || echo "redis down"
}

command=${1:-status}
shift || true
services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(redis clickhouse elasticsearch)

case $command in
  start) for s in "${services[@]}"; do "start_$s"; done ;;
  stop) for s in "${services[@]}"; do "stop_$s"; done ;;
  restart) for s in "${services[@]}"; do "stop_$s"; "start_$s"; done ;;
  status) status ;;
  *) echo "usage: $0 start|stop|restart|status [elasticsearch|clickhouse|redis ...]" >&2; exit 2 ;;
esac
