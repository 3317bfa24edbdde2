# make demo   set up, start the bundled sandbox, import sample_data, print the summary
# make test   set up and run the test suite (make test-fast: the unit tests only; make lint)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean chromium prism postgres wheel-check

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kelviq-import needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: install
	@bash scripts/demo.sh

test: install chromium prism postgres
	$(BIN)/python -m pytest -q

# Unit tests only (no sandbox runs, no subprocesses): seconds, for the edit-test loop.
test-fast: install
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -q -m "not e2e"

# The report.html test renders the page in Debian's headless Chromium. Installed when this
# machine can (root with apt); elsewhere that one test is skipped and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report.html test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; the report.html test will be skipped"; \
	  else echo "note: chromium not installed; the report.html test will be skipped"; fi; }

# The database tests start a throwaway PostgreSQL server (initdb + pg_ctl, a Unix socket only)
# under a temporary directory. Debian's postgresql is installed when this machine can (root with
# apt); elsewhere those tests are skipped and say why.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's postgresql for the database tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
	      || echo "note: could not install postgresql; the PostgreSQL tests will be skipped"; \
	  else echo "note: postgresql not installed; the PostgreSQL tests will be skipped"; fi; }

# The contract test sends real imports to Stoplight Prism, a validating mock built from the
# vendor's spec. Installed with npm where Node.js is (Debian's nodejs/npm when root with apt);
# elsewhere those tests are skipped and say why.
PRISM_VERSION := 5.16.0
PRISM := .tools/prism/node_modules/.bin/prism
prism:
	@test -x $(PRISM) || { \
	  if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's nodejs and npm for the Prism contract test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null 2>&1; fi; \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "installing Stoplight Prism $(PRISM_VERSION) into .tools/prism"; \
	    npm install --prefix .tools/prism --no-audit --no-fund --silent @stoplight/prism-cli@$(PRISM_VERSION) \
	      || echo "note: could not install Prism; the contract test will be skipped"; \
	  else echo "note: npm not available; the Prism contract test will be skipped"; fi; }

# The wheel and the sdist as a user gets them: built, installed into a clean venv with and
# without extras, and used (scripts/wheel_smoke.sh). CI runs it; an editable install hides
# what the wheel leaves out.
wheel-check: install
	bash scripts/wheel_smoke.sh

lint: install
	$(BIN)/ruff check importer tests bench scripts sample_data examples
	$(BIN)/ruff format --check importer tests bench scripts sample_data examples
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .tools kelviq-import-reports .pytest_cache
