# Two commands matter: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv on first use and install everything they need.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
TORCH  ?= torch==2.13.0
# Where pip finds PyTorch. Empty: pip's own configuration, which on a stock Linux machine
# means the multi-GB CUDA build; `make TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# takes the CPU build instead.
TORCH_INDEX ?=

.PHONY: demo test test-slow lint bench docs clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e '.[dev,explore,faiss]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hopfield demo

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples docs/hooks
	$(VENV)/bin/mypy

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[dev,explore,faiss,docs]'
	touch $(DOCS_STAMP)

# The documentation site (MkDocs Material + mkdocstrings) into site/; --strict turns every
# warning (broken link, unknown API reference, failing tutorial code) into an error.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) runs site .pytest_cache .mypy_cache .ruff_cache
