# Shoal's two commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := tests/interop/node/node_modules/.installed

.PHONY: demo test test-postgresql test-long lint typecheck pytest bench system-deps catalogs lock clean

# Every dependency comes from a lock with hashes (requirements/, made by
# `make lock`); Shoal itself is installed without resolving anything more.
$(STAMP): pyproject.toml requirements/build.lock requirements/test.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/build.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The npm package age-encryption (typage) for post-quantum interop tests.
$(NODE_STAMP): tests/interop/node/package.json
	@if command -v npm >/dev/null; then \
		cd tests/interop/node && npm install --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: post-quantum interop tests will be skipped"; fi

# Debian packages the tests use; run as root (CI does).
system-deps:
	@if [ "$$(id -u)" = 0 ]; then \
		pkgs="age chromium haproxy libimage-exiftool-perl microsocks systemd tor zbar-tools"; command -v node >/dev/null || pkgs="$$pkgs nodejs"; \
		command -v npm >/dev/null || pkgs="$$pkgs npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; \
	else echo "not root: install 'age', 'chromium', 'haproxy', 'libimage-exiftool-perl', 'microsocks', 'systemd', 'tor', 'zbar-tools', 'ffmpeg', 'nodejs' and 'npm' yourself for the interop, browser and deployment tests"; fi

demo: $(STAMP)
	$(BIN)/shoal demo

# bandit: any high-severity finding fails (ruff's S rules already catch most
# of what bandit does; issue #12 asks for bandit by name).
# ruff without its cache: which imports are first-party depends on where
# files are, which the cache does not see (a moved module passed here and
# failed on a clean checkout).
lint: $(STAMP)
	$(BIN)/ruff check --no-cache src tests bench tools fuzz
	$(BIN)/ruff format --check --no-cache src tests bench tools fuzz
	$(BIN)/bandit -q -r src --severity-level high

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -q

# The whole suite on SQLite, plus what always runs on a throwaway PostgreSQL
# cluster (migrations, the blob stores' contract, two server processes).
test: lint typecheck pytest

# The whole suite again with every server's database on PostgreSQL. CI runs both.
test-postgresql: $(STAMP) $(NODE_STAMP)
	SHOAL_TEST_ENGINE=postgresql $(BIN)/pytest -q

test-long: $(STAMP) $(NODE_STAMP)
	SHOAL_LONG=1 $(BIN)/pytest -q

# After changing any user-facing text: re-extract, then translate what is new
# in src/shoal/server/locale/*/LC_MESSAGES/messages.po (tests/server/test_catalogs.py).
catalogs: $(STAMP)
	$(BIN)/python tools/update_catalogs.py

# After changing a dependency in pyproject.toml: re-lock with hashes.
lock:
	$(PYTHON) tools/update_locks.py

bench: $(STAMP)
	$(BIN)/python bench/age_throughput.py
	$(BIN)/python bench/desk_ui.py
	$(BIN)/python bench/field_upload.py
	$(BIN)/python bench/blob_stores.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/intake.py --engines postgresql --nodes 2 --no-peers
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/login.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/asgi_servers.py
	$(BIN)/python bench/corroboration.py

clean:
	rm -rf $(VENV) tests/interop/node/node_modules
