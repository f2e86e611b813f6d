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

# The import prints a JSON summary with every rejected row; show the counts
# and how many rows each reason rejected.
summarize() {
  python -c '
import collections, json, sys
summary = json.load(sys.stdin)
print({key: summary[key] for key in ("read", "created", "updated", "rejected")})
reasons = collections.Counter(
    f"{field}: {messages[0]}" for row in summary["rejected_rows"] for field, messages in row["errors"].items())
for reason, count in reasons.most_common(5):
    print(f"  rejected {count} rows, {reason}")
'
}

until curl -fs -o /dev/null "$base_url/ready"; do sleep 1; done

# One demo key at a time: the previous run's key is revoked. The token is
# passed to the replayer in its environment, not its arguments, which ps shows.
key_file="$root/.local/run/demo-key-id"
if [[ -f $key_file ]]; then
  flask --app wsgi keys revoke "$(cat "$key_file")" >/dev/null 2>&1 || true
fi
created=$(flask --app wsgi keys create --name demo --scope ingest --scope analytics 2>/dev/null)
token=$(python -c 'import json, sys; print(json.load(sys.stdin)["token"])' <<<"$created")
python -c 'import json, sys; print(json.load(sys.stdin)["key_id"])' <<<"$created" >"$key_file"

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

# Event ids of the backfill derive from its seed, so a second demo run does
# not store the same history twice. It contains no searches, because those
# come only from real searches, from the replay below on.
log "backfilling 14 days of past views, clicks, carts and purchases"
python -m replay backfill --base-url "$base_url" --out .local/run/backfill.jsonl --days 14 --sessions 3000
REPLAY_API_KEY="$token" python -m replay send .local/run/backfill.jsonl --base-url "$base_url" --no-progress

# The key is not logged: the URL that carries it goes to a file only its owner reads.
url_file="$root/.local/run/dashboard-url"
(umask 077 && printf '%s/dashboard#key=%s\n' "$base_url" "$token" >"$url_file")
log "dashboard ready: open the URL in $url_file (it carries an analytics key)"
round=0
while true; do
  round=$((round + 1))
  REPLAY_API_KEY="$token" python -m replay run --base-url "$base_url" --datasets "$datasets" --sessions 200 \
    --seed "$round" --rate "${DEMO_RATE:-5}" --concurrency 2 --no-progress >/dev/null \
    || log "replay round $round had errors"
  log "replay round $round done"
done
