# FireTwin — `make run` serves the demo district, `make test` runs the suite on a real PostGIS.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export FIRETWIN_PORT ?= 8000

.PHONY: setup system venv web run db test bench lint clean-db

setup: system venv web

system:
	@scripts/install-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml scripts/make-venv.sh
	@scripts/make-venv.sh

# The one-map's front-end libraries (MapLibre GL JS, Chart.js) from npm, served from web/static.
web: web/static/vendor/.installed

web/static/vendor/.installed: web/package.json web/package-lock.json scripts/make-web.sh
	@scripts/make-web.sh

db: setup
	@$(BIN)/firetwin db start

run: setup
	@$(BIN)/firetwin run

# The whole suite against a real PostGIS (separate <db>_test database); a skipped test fails.
# Bytecode for FireTwin's own modules (CI sets PYTHONDONTWRITEBYTECODE: without it every server,
# ingester and CLI process a test starts would compile them again).
COMPILE := $(BIN)/python -m compileall -q -j 0 gis services layers routing tiles bench tests >/dev/null

test: setup
	@$(BIN)/firetwin db start >/dev/null
	@$(COMPILE)
	FIRETWIN_FAIL_ON_SKIP=1 $(BIN)/python -m pytest --doctest-modules $(PYTEST_ARGS)

bench: setup
	@$(BIN)/firetwin db start >/dev/null
	@$(COMPILE)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check gis services routing layers tiles tests bench

clean-db:
	-$(BIN)/firetwin db stop
	rm -rf .firetwin
