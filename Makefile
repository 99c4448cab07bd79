# Every target sets up what it needs: a fresh clone only needs Python >= 3.11, Node.js and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETUP := $(VENV)/.setup-done
NODE_SETUP := node_modules/.setup-done

.PHONY: demo test fuzz lint typecheck setup clean

demo: $(SETUP)
	$(BIN)/loctocat demo $(if $(DEMO_ARGS),$(DEMO_ARGS),$(shell [ -t 0 ] || echo --auto-approve))

test: $(SETUP) $(NODE_SETUP) lint typecheck
	LOCTOCAT_REQUIRE_INTEROP=1 $(BIN)/pytest

# The long property-based run of the sans-I/O core: 100,000 examples per property
# (LOCTOCAT_FUZZ_EXAMPLES to change it), in two processes, one per core: about 50 minutes.
FUZZ_HALF := polling_ends or to_dict or valid_device or test_regressions
fuzz: $(SETUP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz -q -k '$(FUZZ_HALF)' & first=$$!; \
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz -q -k 'not ($(FUZZ_HALF))'; second=$$?; \
	wait $$first; first=$$?; exit $$(( first || second ))

lint: $(SETUP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(SETUP)
	$(BIN)/mypy --strict src

setup: $(SETUP) $(NODE_SETUP)

$(SETUP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "loctocat needs Python 3.11 or newer: run make with PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,qr,keyring,requests]'
	touch $@

$(NODE_SETUP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis dist build site
