#!/usr/bin/env bash
# The demo process of Procfile.demo: once the API is ready, load real catalogs,
# backfill two weeks of past events, then keep replaying shopper traffic so the
# dashboard fills and keeps moving. Runs until stopped (honcho stops all
# processes when one exits).
#
#   DATASETS   folder with the public datasets (default: ../shared/datasets)
#   CATALOG    a catalog file to load instead, with CATALOG_MAPPING (a preset
#              name or field=source pairs, see `flask catalog import --help`)
#   DEMO_RATE  requests per second of the continuous replay (default 5)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base_url="http://${BIND:-127.0.0.1:8000}"
datasets="${DATASETS:-$root/../shared/datasets}"

log() { printf 'demo: %s\n' "$*"; }

# The import prints a JSON summary with every rejected row; show the counts.
summarize() { python -c 'import json, sys; s = json.load(sys.stdin); print({k: s[k] for k in ("read", "created", "updated", "rejected")})'; }

until curl -fs -o /dev/null "$base_url/ready"; do sleep 1; done

# Passed to the replayer in its environment, not its arguments, which ps shows.
token=$(flask --app wsgi keys create --name demo --scope ingest --scope analytics 2>/dev/null \
  | python -c 'import json, sys; print(json.load(sys.stdin)["token"])')

if [[ -n ${CATALOG:-} ]]; then
  flask --app wsgi catalog import "$CATALOG" --mapping "${CATALOG_MAPPING:-}"
elif [[ -d $datasets ]]; then
  log "loading the real catalogs from $datasets"
  flask --app wsgi catalog import "$datasets/bestbuy-products-typesense/products.jsonl" --mapping bestbuy | summarize
  flask --app wsgi catalog import "$datasets/flipkart-products-promptcloud/products.jsonl" --mapping flipkart | summarize
else
  log "no datasets folder at $datasets: set DATASETS to it, or CATALOG to a catalog file (JSON Lines or CSV)"
  exec sleep infinity
fi

log "backfilling 14 days of past events"
python -m replay backfill --base-url "$base_url" --out .local/run/backfill.jsonl --days 14 --sessions 3000
REPLAY_API_KEY="$token" python -m replay send .local/run/backfill.jsonl --base-url "$base_url"

# The key is not logged: the URL that carries it goes to a file only its owner reads.
url_file="$root/.local/run/dashboard-url"
(umask 077 && printf '%s/dashboard#key=%s\n' "$base_url" "$token" >"$url_file")
log "dashboard ready: open the URL in $url_file (it carries an analytics key)"
round=0
while true; do
  round=$((round + 1))
  REPLAY_API_KEY="$token" python -m replay run --base-url "$base_url" --datasets "$datasets" --sessions 200 \
    --seed "$round" --rate "${DEMO_RATE:-5}" --concurrency 2 >/dev/null || log "replay round $round had errors"
  log "replay round $round done"
done
