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

# The oracle suite deep: fresh randomness, 50 payloads per response schema and 50 schemathesis
# cases per operation (CI runs it derandomised with 2, inside `make test`). Not part of `test`.
# The independent oracle of the code generator (not yet in `make test`: see tests/codegen/conftest.py).
oracle: venv
	ORACLE=1 $(PY) -m pytest -q tests/codegen/oracle --timeout=900

fuzz: venv
	ORACLE=1 ORACLE_DEEP=1 $(PY) -m pytest -q tests/codegen/oracle --timeout=3600

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
