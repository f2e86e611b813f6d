#!/usr/bin/env bash
# Install everything the service and its tests need on a fresh Debian machine,
# skipping whatever is already there:
#   - Debian packages: clickhouse-server, redis-server, curl, unzip
#     (and chromium with --browser, for the dashboard's browser test)
#   - a system user for Elasticsearch, which refuses to run as root
#   - Elasticsearch's official integ-test distribution from Maven Central
#   - a virtualenv in .venv with requirements.txt (and requirements-dev.txt with --dev)
#
#   scripts/setup.sh [--dev] [--browser]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="${LOCAL_DIR:-$root/.local}"
# shellcheck source=scripts/versions.sh
source "$root/scripts/versions.sh"

dev=0 browser=0
for arg in "$@"; do
  case $arg in
    --dev) dev=1 ;;
    --browser) browser=1 ;;
    *) echo "usage: $0 [--dev] [--browser]" >&2; exit 2 ;;
  esac
done

log() { printf '%s setup: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages ---------------------------------------------------------

packages=(clickhouse-server clickhouse-client redis-server redis-tools curl unzip maven)
if ((browser)); then packages+=(chromium chromium-driver); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # policy-rc.d on such machines stops the packages' own services from
  # starting; scripts/services.sh runs them on ports of the project's own.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Elasticsearch -----------------------------------------------------------

if ! id "$ES_USER" >/dev/null 2>&1; then
  log "creating system user $ES_USER for Elasticsearch"
  as_root useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
fi

es_home="$local_dir/elasticsearch-$ES_VERSION"
if [[ ! -x $es_home/bin/elasticsearch ]]; then
  log "fetching $ES_ARTIFACT from Maven Central"
  mkdir -p "$local_dir/downloads"
  mvn -q -B dependency:copy -Dartifact="$ES_ARTIFACT" -DoutputDirectory="$local_dir/downloads" \
    -Dmdep.overWriteReleases=false
  rm -rf "$es_home.tmp"
  mkdir -p "$es_home.tmp"
  unzip -q "$local_dir/downloads/elasticsearch-$ES_VERSION.zip" -d "$es_home.tmp"
  mv "$es_home.tmp/elasticsearch-$ES_VERSION" "$es_home"
  rm -rf "$es_home.tmp"
fi
es_java_home >/dev/null

# --- Python ------------------------------------------------------------------

venv="$root/.venv"
if [[ ! -x $venv/bin/python ]]; then
  log "creating virtualenv $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.installed"
requirements=("$root/requirements.txt")
if ((dev)); then requirements+=("$root/requirements-dev.txt"); fi
wanted=$(cat "${requirements[@]}")
if [[ ! -f $stamp ]] || [[ $(cat "$stamp") != "$wanted" ]]; then
  log "installing Python packages into $venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "${requirements[@]/#/--requirement=}"
  printf '%s' "$wanted" >"$stamp"
fi
# --- browser assets (Swagger UI, ReDoc, charts) -------------------------------

assets="$root/webapp/assets"
if [[ ! -f $assets/node_modules/.package-lock.json ]] || ! cmp -s "$assets/package-lock.json" "$assets/node_modules/.lock-installed"; then
  command -v npm >/dev/null || { log "npm is missing: install Node.js (apt-get install nodejs npm)"; exit 1; }
  log "installing browser assets from npm"
  (cd "$assets" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$assets/package-lock.json" "$assets/node_modules/.lock-installed"
fi

log "ready: Elasticsearch $ES_VERSION, $(clickhouse-client --version 2>/dev/null | head -n 1), $(redis-server --version | awk '{print $3}')"
