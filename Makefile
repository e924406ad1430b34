# Two entry points: `make demo` (train + evaluate the classic VAE on MNIST, with an HTML report) and `make test`.
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_RUN ?= runs/classic-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/vaekit data fetch mnist
	$(BIN)/vaekit train --preset classic --dataset mnist --epochs 10 --out $(DEMO_RUN)
	$(BIN)/vaekit evaluate $(DEMO_RUN)
	@echo "run directory: $(DEMO_RUN)"
	@echo "open $(DEMO_RUN)/report.html in a browser (and explorer.html, linked from it)"

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
