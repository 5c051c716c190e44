# voicecast developer entry points. `make test` is what CI runs (.ci/run).
VENV        ?= .venv
PY          := $(VENV)/bin/python
PYTEST_ARGS ?=
LINT_PATHS  := voicecast orchestrator workers

.PHONY: setup example book test test-fast lint bench

## Install system packages (apt, when missing) and the project into .venv.
setup:
	bash scripts/setup.sh

## Render the bundled example trailer in the example voice (embedded mode).
example: setup
	mkdir -p out
	$(VENV)/bin/voicecast render examples/trailer.srt --voice examples/reference.wav --out out/trailer.m4a

## Render the bundled example book (three fables, three character voices, a lexicon).
book: setup
	mkdir -p out
	$(VENV)/bin/voicecast render examples/fables.md --voice narrator=jm_kumo --voice Fox=jf_alpha \
	  --voice Tortoise=jf_nezumi --voice Hare=jf_gongitsune --lexicon examples/fables.lexicon \
	  --out out/fables.m4b

## Unit, integration (real servers started by the session) and e2e tests.
test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

## The unit tier alone: pure code, no audio tool, model or server (tests/unit/conftest.py
## fails a unit test that runs one). Well under two minutes.
test-fast: setup
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

## ruff, mypy, and the layer contracts (orchestrator -> workers -> voicecast; see
## [tool.importlinter] in pyproject.toml and tests/unit/test_layers.py for module strings).
lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/mypy $(LINT_PATHS)
	$(VENV)/bin/lint-imports --no-cache

## Benchmarks print figures (never assert timings): every bench/bench_*.py.
bench: setup
	@set -e; found=0; for f in bench/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; echo "== $$f"; $(PY) "$$f"; \
	done; [ $$found = 1 ] || { echo "no bench/bench_*.py yet"; exit 1; }
