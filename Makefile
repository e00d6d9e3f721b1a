# gongshu — `make run` serves a demo province, `make test` runs the suite. Nothing else is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/gongshu/web/static/vendor
PYTEST_ARGS ?=

.PHONY: run test install assets lint bench clean

$(BIN)/gongshu: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Front-end packages come from npm at build time and are never committed.
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js \
	   node_modules/echarts/dist/echarts.min.js \
	   node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	touch $@

assets: $(VENDOR)/.stamp

install: $(BIN)/gongshu assets

run: install
	$(BIN)/gongshu demo

# The suite runs on SQLite, and on PostgreSQL too when GONGSHU_TEST_DATABASE_URL is set.
# pytest's exit code 5 (no tests collected) is a failure too.
test: install
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$status

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .hypothesis
