# flext-api: `make demo` and `make test` each bootstrap .venv from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test docs lint check-sync sync peers gql-oracle bench bench-quick bench-deps oracle fuzz clean

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e '.[trio,fastapi,compression,codegen,graphql,otel]'
	touch $(STAMP)

venv: $(STAMP)

# System peers the integration tests start themselves (Debian packages; CI runs as root):
# redis-server (server-side rate limits), nginx and nghttpd (HTTP/2 peers).
PEER_BINARIES := redis-server nginx nghttpd
PEER_PACKAGES := redis-server nginx nghttp2-server nghttp2-client
peers:
	@missing=""; for b in $(PEER_BINARIES); do \
	  command -v $$b >/dev/null 2>&1 || test -x /usr/sbin/$$b || test -x /usr/bin/$$b || missing="$$missing $$b"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing test peers:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PEER_PACKAGES) >/dev/null; \
	  else echo "missing test peers:$$missing (apt-get install $(PEER_PACKAGES))"; exit 1; fi; \
	fi
	# Node's ws@8, the WebSocket interop peer (tests/servers/ws_peers.py installs it too).
	cd tests/servers/node && npm install --no-audit --no-fund --silent
	# Azurite (the Azure Blob emulator of the storage suite), pinned by its lock file: npm ci
	# again only when the lock file changed since the last install.
	cd tests/servers/azurite && { cmp -s package-lock.json node_modules/.flext-lock-stamp || \
	  { npm ci --no-audit --no-fund --silent && cp package-lock.json node_modules/.flext-lock-stamp; }; }

# The GraphQL oracle (ariadne + ariadne-codegen) in its own venv: it needs graphql-core<3.3,
# httpx and an older ruff, none of which may enter .venv (tests/codegen/graphql_oracle/).
ORACLE_VENV := .venv-gql-oracle
ORACLE_REQS := tests/codegen/graphql_oracle/requirements.txt
$(ORACLE_VENV)/.installed-stamp: $(ORACLE_REQS)
	test -x $(ORACLE_VENV)/bin/python || $(PYTHON) -m venv $(ORACLE_VENV)
	$(ORACLE_VENV)/bin/python -m pip install -q --disable-pip-version-check -r $(ORACLE_REQS)
	touch $@

gql-oracle: $(ORACLE_VENV)/.installed-stamp

demo: venv
	$(PY) docs/demo.py

# Regenerate flext_api/_sync from flext_api/_async.
sync: venv
	$(PY) -m codegen unasync

check-sync: venv
	$(PY) -m codegen unasync --check

# The documentation site: mkdocs build --strict (a warning fails), then the built pages rendered
# in headless Chromium (installed here when missing, as root) must show the navigation and the
# API reference (tests/docs_site.py).
docs: venv
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium)"; exit 1; fi; }
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m tests.docs_site site

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: venv peers gql-oracle check-sync lint docs
	rm -f .coverage .coverage.*
	$(PY) -m coverage run -m pytest -q --timeout=300
	$(PY) -m coverage combine -q
	$(PY) -m coverage report
	ORACLE=1 $(PY) -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests/codegen/oracle --timeout=900
	FLEXT_HTTP1_PARSER=h11 $(PY) -m pytest -q -p no:cacheprovider --timeout=300 $(H11_SUITE)

# The run above parses HTTP/1.1 with httptools (http1_parser="auto"); these suites run again on
# h11, the reference parser (about a minute): the client (asyncio and trio; the blocking twin
# shares the wire code), the hostile servers and the differential test.
H11_SUITE = tests/hostile/_async tests/hostile/test_cancellation_storms.py \
	tests/_async/test_client.py tests/_async/test_http11_wire.py tests/_async/test_faults.py \
	tests/_async/test_pool.py tests/_async/test_proxy.py tests/sansio/test_wire_differential.py

# The independent oracle of the code generator (tests/codegen/oracle): `make test` runs it
# derandomised with 2 examples per operation (in `test`); `oracle` runs that alone, and
# `fuzz` deep: fresh randomness, 50 payloads per response schema and 50 schemathesis cases per
# operation (judge_limits.json entries may then go unmatched; unmatched findings still fail).
oracle: venv
	ORACLE=1 $(PY) -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests/codegen/oracle --timeout=900

fuzz: venv
	ORACLE=1 ORACLE_DEEP=1 $(PY) -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests/codegen/oracle --timeout=3600

# Benchmark peers (niquests without its urllib3 override, so urllib3 rows measure urllib3)
# and nginx as the origin.
bench-deps: venv
	$(PY) -m pip install -q --disable-pip-version-check -r benchmarks/requirements.txt
	URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install -q --disable-pip-version-check --no-binary urllib3-future niquests==3.21.2
	command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq nginx)

# The whole matrix (about 20 minutes), written to benchmarks/results/ and README.md's block.
bench: bench-deps
	$(PY) benchmarks/suite.py --readme README.md

# Every section with small counts, to build/bench-quick/: checks the suite, publishes nothing.
bench-quick: bench-deps
	$(PY) benchmarks/suite.py --quick

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache
