#!/usr/bin/env bash
# Run the whole stack in the foreground: the local services, then the API
# under gunicorn, a Celery worker and beat (Procfile, run by honcho). With
# --demo, also the demo process: real catalogs and replayed traffic. Ctrl-C
# stops the API, worker and beat, then the services this run started; services
# that were already running (for example for tests) are left running.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin="$root/.venv/bin"
export PATH="$bin:$PATH"
# Plain text lines read better in a terminal than JSON; set LOG_FORMAT=json to keep JSON.
export LOG_FORMAT="${LOG_FORMAT:-text}"

started=()
# Read the status once: piping it into `grep -q` would fail under pipefail.
status=$(scripts/services.sh status)
for service in redis clickhouse elasticsearch; do
  if ! grep -q "^$service up" <<<"$status"; then
    started+=("$service")
  fi
done
scripts/services.sh start

stop_started() {
  if [[ ${#started[@]} -gt 0 ]]; then
    scripts/services.sh stop "${started[@]}" || true
  fi
}
trap stop_started EXIT

processes=(web worker beat)
if [[ ${1:-} == --demo ]]; then
  processes+=(demo)
fi

flask --app wsgi storage init
# honcho stops every process when one exits or on Ctrl-C.
honcho start -f Procfile "${processes[@]}"
