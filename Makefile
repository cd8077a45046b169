# Every target runs inside a local virtual environment, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo-out

.PHONY: install demo test bench bench-accuracy bench-speed bench-service lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ipguard.demo --workdir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: bench-accuracy bench-speed bench-service

bench-accuracy: $(STAMP)
	$(BIN)/python bench/accuracy.py --sweep

bench-speed: $(STAMP)
	$(BIN)/python bench/speed.py

bench-service: $(STAMP)
	$(BIN)/python bench/service_load.py

lint: $(STAMP)
	$(BIN)/ruff check ipguard tests bench
	$(BIN)/ruff format --check ipguard tests bench

format: $(STAMP)
	$(BIN)/ruff format ipguard tests bench
	$(BIN)/ruff check --fix ipguard tests bench

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache .ruff_cache
