# The two commands a fresh machine needs: `make train` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install train test test-slow test-slurm test-browser lint bench bench-gpu gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) train.py $(ARGS)

# The default suite (pyproject: -m 'not slow', --durations=15, 300 s per test): ~3 min on 2 cores.
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(ARGS)

# What the default suite leaves out as slow but still worth running (CI runs it after `make test`).
test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow $(ARGS)

# A single-node SLURM cluster on localhost (root; installs Debian's slurm + munge if missing), a 2-job DDP sweep
# through hydra/launcher=slurm, every daemon stopped again.
test-slurm: $(STAMP)
	PY=$(PY) ./scripts/test_slurm.sh $(ARGS)

# Headless Chromium (Debian's, apt-installed by scripts/install_browser.sh when missing) driven by Playwright: the
# `colorize --serve` page and the sweep's report.html, checked in a real browser, offline.
test-browser: $(STAMP)
	./scripts/install_browser.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m browser $(ARGS)

# ruff, and the house's layers (pyproject: [tool.importlinter]): an import that points up fails here.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/run_all.py

bench-gpu: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_gpu.py

# The day a GPU is at hand (<= 8 min, safe to rerun): bench-gpu's table, a compiled on-device fit, kaggle_study at
# 1/10 scale, hydra/launcher=gpus over the GPUs present -> benchmarks/gpu_results.md. ARGS=--dry-run: on a CPU.
gpu-check: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/gpu_check.py $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
