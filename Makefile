# Two commands do all the set-up (see README.md):
#   make benchmark   creates .venv, installs, runs the default benchmark
#   make test        creates .venv if needed, installs with test extras, runs pytest
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# CPU build of torch; a bare `pip install torch` may pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

# RLlib pins its own Gymnasium, so its example and test run in an environment of their own.
RLLIB_VENV ?= .venv-rllib
RLLIB_SPEC ?= ray[rllib]==2.60.0

.PHONY: test benchmark docs lint format install install-test rllib-env clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Torch first (only if missing) so the extras' `torch>=2.4` is already satisfied.
$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[torch,solver,forecast,bench,fast]" "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[torch,solver,forecast,bench,sweep,dataset,docs,test,fast]" "$(TORCH_SPEC)"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(RLLIB_VENV)/.installed

# RLlib's environment (torch first, as above; RLlib then takes the Gymnasium it pins).
$(RLLIB_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RLLIB_VENV)/bin/python -c "import torch" 2>/dev/null || \
		$(RLLIB_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(RLLIB_VENV)/bin/python -m pip install --quiet -e . "$(RLLIB_SPEC)" "$(TORCH_SPEC)"
	touch $@

rllib-env: $(RLLIB_VENV)/.installed

# pytest on two workers (pytest-xdist; CI has 2 cores); worksteal lets an idle worker take
# tests queued behind a slow one, so the slow tests do not pile up on one worker.
test: $(VENV)/.installed-test $(RLLIB_VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m pytest -q -n 2 --dist worksteal

# The paper's comparison (druginv benchmark --help for options); results in results/paper/.
benchmark: $(VENV)/.installed
	$(VENV)/bin/druginv benchmark

docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(RLLIB_VENV) build dist site .pytest_cache .ruff_cache .hypothesis
