#!/usr/bin/env bash
# Install the Debian packages FireTwin needs, only those missing. Idempotent and quick when
# everything is there. Needs root (or sudo) only when something must be installed.
set -euo pipefail

PG=15
need=()
[ -x "/usr/lib/postgresql/$PG/bin/postgres" ] || need+=("postgresql-$PG")
[ -f "/usr/share/postgresql/$PG/extension/postgis.control" ] || need+=("postgresql-$PG-postgis-3")
[ -f "/usr/share/postgresql/$PG/extension/pgrouting.control" ] || need+=("postgresql-$PG-pgrouting")
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
command -v setfacl >/dev/null || need+=(acl)
command -v runuser >/dev/null || need+=(util-linux)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v wrk >/dev/null || need+=(wrk)  # bench/tiles.py: cached-tile load generator
# tests/scaling: PgBouncer (transaction mode) and Redis (shared tile store) as real processes.
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v redis-server >/dev/null || need+=(redis-server)
# The one-map: npm installs its front-end libraries; the browser tests drive Debian's chromium.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v chromium >/dev/null || need+=(chromium)
# Risk reports: chromium prints them to PDF with a CJK font; the tests read them with pdftotext.
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
command -v pdftotext >/dev/null || need+=(poppler-utils)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's postgresql package would start a system-wide cluster; FireTwin runs its own.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "Debian packages installed"
