# tofbench: `make demo` runs the main job end to end; `make test` runs the test suite.
# Both do their own set-up on a fresh machine: system library for Open3D, a virtual environment,
# torch (CPU build) installed first, then the project with all extras.
SHELL := /bin/bash
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= demo-out
APT_GET := $(shell command -v apt-get 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-fast lint typecheck bench clean system-deps browser

setup: $(VENV)/.installed

system-deps:
	@if [ -n "$(APT_GET)" ] && ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then \
		echo ">> installing libusb-1.0-0 (needed by Open3D)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libusb-1.0-0 >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml | system-deps
	$(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

browser:
	@if ! command -v chromium >/dev/null && [ -n "$(APT_GET)" ]; then \
		echo ">> installing chromium for the HTML report test"; \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null) || echo "chromium install failed: browser test will skip"; \
	fi

demo: setup
	bash scripts/demo.sh $(DEMO_OUT)

test: setup browser
	$(PY) -m pytest -n 2 --dist loadgroup -q

test-fast: setup
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check tofsim completion leaderboard tests benchmarks
	$(VENV)/bin/ruff format --check tofsim completion leaderboard tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

bench: setup
	mkdir -p bench-out
	for b in benchmarks/*.py; do $(PY) $$b --json bench-out/$$(basename $$b .py).json; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
