# `make demo` and `make test` set everything up on a fresh machine (see README.md).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Debian packages the tests use: chromium (the HTML report as a person sees it), adb (the stock
# client, to check the loopback phone speaks real ADB), libusb (adb-shell's USB transport).
SYSTEM_PACKAGES := chromium adb libusb-1.0-0

.PHONY: demo test system-deps clean tflite-folder public-models face-models tiny-llm

$(STAMP): pyproject.toml requirements-torch.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@echo "installing the PyTorch stack; pip's note that dataclass-wizard wants typing-extensions>=4.13 is expected (see requirements-torch.txt)"
	$(PY) -m pip install --quiet -r requirements-torch.txt
	touch $(STAMP)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed:$$missing (tests that need them are skipped; install with apt-get as root)"; fi; \
	fi

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/benchlab run suites/quickstart.yaml

# Six tiny .tflite models in the shapes production models have, for suites/tflite-folder.yaml.
tflite-folder: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m examples.production_models results/tflite-folder

# Real public models the tests run every recipe on (examples/public_models.py: pinned version and sha256).
public-models: $(STAMP)
	$(PY) -m examples.public_models

# Random-weight two-layer language models made offline (examples/tiny_llm.py): a .litertlm and an
# ExecuTorch .etlm bundle, for the LLM tests and suites/llm-tiny.yaml.
tiny-llm: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m examples.tiny_llm

# The seven face and iris models through every .tflite recipe on this CPU (the README's table).
face-models: public-models
	TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/benchlab run suites/face-models.yaml

# The 20 slowest tests are listed at the end: the suite is kept under about 25 minutes here. It runs
# on two worker processes (pytest-xdist), each test file whole on one worker (--dist loadfile: a
# module's fixtures are built once), the longest files first in the order tests/conftest.py gives
# them (--no-loadscope-reorder keeps that order instead of xdist's by test count).
test: $(STAMP) system-deps public-models tiny-llm
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=20

clean:
	rm -rf $(VENV) .pytest_cache
