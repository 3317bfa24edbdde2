# make demo   set up, start the bundled sandbox, import sample_data, print the summary
# make test   set up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench clean chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kelviq-import needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: install
	@bash scripts/demo.sh

test: install chromium
	$(BIN)/python -m pytest -q

# The report.html test renders the page in Debian's headless Chromium. Installed when this
# machine can (root with apt); elsewhere that one test is skipped and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report.html test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; the report.html test will be skipped"; \
	  else echo "note: chromium not installed; the report.html test will be skipped"; fi; }

lint: install
	$(BIN)/ruff check importer tests bench scripts sample_data
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) kelviq-import-reports .pytest_cache
