# `make book` and `make test` set everything up themselves: a .venv unless an environment
# (virtualenv or conda) is already active, the package with its book and test extras, then
# the build. Nothing here needs a network once the packages are installed.

SHELL := /bin/bash
PYTHON ?= python3.11

ifneq ($(or $(VIRTUAL_ENV),$(CONDA_PREFIX)),)
  BIN :=
  STAMP := _build/.installed
else
  BIN := .venv/bin/
  STAMP := .venv/.installed
endif

# The offline CIFAR-10 copy beside the checkout, when there is one (see README).
OFFLINE_DATA := $(wildcard ../shared/data/cifar10-jpeg.tar.gz)
ifneq ($(OFFLINE_DATA),)
  export VGGREPRO_DATA ?= $(abspath $(OFFLINE_DATA))
endif

.PHONY: help setup book chapter test lint format smoke cpu clean distclean chromium
help:
	@echo "make book   build the HTML book into _build/html (offline, from results/)"
	@echo "make chapter NAME=depth   re-execute one chapter into _build/notebooks/depth.ipynb"
	@echo "make test   run the tests, build the book with warnings as errors, check it in Chromium"
	@echo "make smoke  re-record the CPU smoke runs under results/smoke"
	@echo "make cpu    record the CPU tier's batch-norm depth grid under results/cpu (long)"
	@echo "make lint   ruff check and format check"
	@echo "make clean  remove build outputs; make distclean also removes .venv"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -n "$(BIN)" ] && [ ! -x .venv/bin/python ]; then $(PYTHON) -m venv .venv || python3 -m venv .venv; fi
	$(BIN)python -m pip install --quiet --upgrade pip
	$(BIN)python -m pip install --quiet -e '.[test]'
	@mkdir -p $(dir $@) && touch $@

book: $(STAMP)
	$(BIN)jupyter-book build . --builder html
	@echo "Open _build/html/index.html"

chapter: $(STAMP)
	@if [ -z "$(NAME)" ]; then echo "usage: make chapter NAME=<chapter> (e.g. depth)"; exit 2; fi
	$(BIN)python -m vggrepro chapter $(NAME)

lint: $(STAMP)
	$(BIN)ruff check src tests benchmarks
	$(BIN)ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)ruff format src tests benchmarks
	$(BIN)ruff check --fix src tests benchmarks

# The browser test reads the built book, so it runs last, after a forced (uncached) build.
test: $(STAMP) lint chromium
	$(BIN)python -m pytest -m "not browser"
	rm -rf _build/.jupyter_cache _build/html/reports
	@mkdir -p _build && { git status --porcelain --untracked-files=all 2>/dev/null || true; } > _build/git-status-before
	$(BIN)jupyter-book build . --builder html --all -W --keep-going
	$(BIN)python -m pytest -m browser; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# Best effort: headless Chromium for the browser test, when missing and we are root with apt-get.
# Failing here is not fatal; the browser test then skips and says how to install it.
chromium:
	@if [ -z "$$VGGREPRO_CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1 \
	  && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium for the browser test (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    || echo "Could not install Chromium: the browser test will skip"; \
	fi

smoke: $(STAMP)
	rm -rf results/smoke .checkpoints/smoke
	$(BIN)python -m vggrepro run all --smoke --quiet --out results/smoke --checkpoints .checkpoints
	$(BIN)python -m vggrepro export .checkpoints/smoke/depth/vgg11_bn-s0.model.pt \
	  results/models/vgg11_bn-smoke-s0.pt --result results/smoke/depth/vgg11_bn-s0.json

# The CPU tier: one one-thread process per core; skips recorded runs, resumes interrupted ones.
CPU_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
cpu: $(STAMP)
	$(BIN)python -m vggrepro run depth --preset cpu --workers $(CPU_WORKERS) \
	  --runs vgg11_bn vgg13_bn vgg16_bn vgg19_bn
	$(BIN)python -m vggrepro export .checkpoints/cpu/depth/vgg11_bn-s0.model.pt \
	  results/models/vgg11_bn-cpu-s0.pt --result results/cpu/depth/vgg11_bn-s0.json
	$(BIN)python -m vggrepro probe results/models/vgg11_bn-cpu-s0.pt --quiet

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

distclean: clean
	rm -rf .venv
