# The book's two commands: `make book` and `make test` (see README.md).
# Both set up .venv from nothing but Python 3 and the package registries.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MATHJAX_VERSION := 3.2.2
MATHJAX := $(VENV)/mathjax/static/mathjax/tex-mml-chtml.js
PYTEST_WORKERS ?= 2
REMOTE ?= origin
# `make clean-cache FORCE=1` (or YES=1) deletes without asking, for scripts.
CONFIRMED := $(filter 1 y yes true,$(FORCE) $(YES))
# JupyterLab refuses to start as root (containers) without this flag.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Python compiles each module it imports once and keeps the bytecode, unless this variable
# (set in some containers) forbids it: then every kernel, worker and test process of make
# test compiles torch's Python from source again (a fresh clone's .ci/run measured 728 s
# instead of 516 s). The bytecode lands in .venv and ignored __pycache__ folders only.
unexport PYTHONDONTWRITEBYTECODE
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export MPLBACKEND := Agg

.PHONY: help setup book chapters html test unit nbval lint format baselines strip publish lab clean clean-cache screenshot

help:
	@echo "make book         set up .venv, execute stale chapters (book profile), build _build/html"
	@echo "make test         set up .venv, run lint, unit tests and nbval regression tests"
	@echo "make baselines    re-execute every chapter with the smoke profile into tests/notebooks/"
	@echo "make lab          JupyterLab on notebooks/ with the project's kernel"
	@echo "make publish      push _build/html to the gh-pages branch of REMOTE (default: origin)"
	@echo "make strip        remove outputs from the source notebooks in notebooks/"
	@echo "make format       ruff format and ruff check --fix"
	@echo "make clean        delete _build"
	@echo "make clean-cache  delete .cache: the checkpoints of every training run, HOURS of training"
	@echo "                  to recompute; says what it holds and asks first (FORCE=1: no question)"
	@echo ""
	@echo "The chapter runner (what make book calls; python is $(PY)):"
	@echo "  python -m pose_helpers list        chapters, their parameters, defaults and profile values"
	@echo "  python -m pose_helpers run CHAPTER [--profile smoke|book|paper] [-p NAME VALUE]..."
	@echo "                                     [--out FILE] [--force]   (without --out: book/CHAPTER.ipynb)"
	@echo "  python -m pose_helpers run --all   every chapter whose inputs changed"
	@echo "  python -m pose_helpers cache-info  what .cache holds: checkpoints, hours of training"
	@echo ""
	@echo "Profiles: smoke  seconds per chapter, tiny shapes: the nbval baselines (make test)"
	@echo "          book   the default: what the published book shows, sized for a 2-core CPU"
	@echo "          paper  the papers' full scale, for a machine with a GPU"
	@echo ""
	@echo "Environment:"
	@echo "  POSE_HELPERS_DATA     the real data (MPII, MARS); default ../shared/data, else synthetic data"
	@echo "  POSE_HELPERS_CACHE    checkpoints and renders; default .cache (never committed)"
	@echo "  POSE_HELPERS_RUNS     the run records; default book/runs (committed)"
	@echo "  POSE_HELPERS_RESULTS  where a chapter writes its result tables (the runner sets it)"

setup: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# --no-compile: Python compiles what it imports on first use; compiling every installed
	# file (torch's thousands) at install time is work that make test's setup does not need.
	$(VENV)/bin/pip install --quiet --no-compile -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pose-helpers)" >/dev/null
	touch $@

# MathJax from the npm registry, served from the book's _static folder (no CDN).
$(MATHJAX): | $(INSTALLED)
	@command -v npm >/dev/null || { echo "npm is needed once to install MathJax for offline math (apt-get install npm)"; exit 1; }
	npm install --prefix $(VENV)/mathjax --no-save --no-audit --no-fund --loglevel=error mathjax@$(MATHJAX_VERSION)
	rm -rf $(VENV)/mathjax/static && mkdir -p $(VENV)/mathjax/static
	cp -r $(VENV)/mathjax/node_modules/mathjax/es5 $(VENV)/mathjax/static/mathjax
	rm -rf $(VENV)/mathjax/static/mathjax/sre $(VENV)/mathjax/static/mathjax/*-full*.js

book: chapters html

chapters: $(INSTALLED)
	$(PY) -m pose_helpers run --all

html: $(INSTALLED) $(MATHJAX)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --quiet
	@echo "book: $(CURDIR)/_build/html/index.html"

# One pytest session for the unit tests and the nbval baselines (both named: pytest merges a
# folder inside another given folder, where norecursedirs skips tests/notebooks; conftest puts the
# longest baselines first): two sessions each waited on their last file alone.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
test: lint
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		-p no:cacheprovider $(NBVAL) tests/test_*.py tests/notebooks

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: $(INSTALLED)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) tests

# One notebook per worker at a time (--dist loadfile: a notebook's cells share one kernel,
# in order); each smoke chapter pins its own torch threads, so two run side by side.
nbval: $(INSTALLED)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		-p no:cacheprovider $(NBVAL) tests/notebooks

baselines: $(INSTALLED)
	for chapter in $$($(PY) -c "from pose_helpers.chapters.runner import list_chapters; print(*list_chapters())"); do \
		$(PY) -m pose_helpers run $$chapter --profile smoke --force --out tests/notebooks/$$chapter.ipynb; \
	done

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

strip: $(INSTALLED)
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

publish: $(INSTALLED)
	@test -f _build/html/index.html || { echo "no _build/html: run 'make book' first"; exit 1; }
	$(VENV)/bin/ghp-import --no-jekyll --push --force --remote $(REMOTE) --branch gh-pages \
		--message "Publish the book" _build/html

lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ROOT)

clean:
	rm -rf _build

# The cache holds every run's checkpoints: hours of training. Say what is there and ask
# (no answer, as from a script without FORCE=1, keeps it). Counting is Python's
# (`pose_helpers cache-info`); without .venv only the size is shown.
clean-cache:
	@if [ ! -e .cache ]; then echo "no .cache: nothing to delete"; exit 0; fi; \
	if [ -x $(PY) ]; then $(PY) -m pose_helpers cache-info --cache .cache; \
	else echo ".cache: $$(du -sh .cache | cut -f1) (no .venv to count its checkpoints)"; fi; \
	if [ -z "$(CONFIRMED)" ]; then \
		read -r -p "Delete .cache? [y/N] " answer || answer=; \
		case "$$answer" in [yY]|[yY][eE][sS]) ;; *) echo "kept .cache"; exit 0;; esac; \
	fi; \
	rm -rf .cache; echo "deleted .cache"

# A real-browser check of a rendered page (math and figures): needs Debian's chromium.
PAGE ?= book/regularization_theory
screenshot:
	@command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)"; exit 1; }
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$(mktemp -d) --hide-scrollbars --window-size=1280,$${HEIGHT:-2400} \
		--virtual-time-budget=15000 --screenshot=$(CURDIR)/_build/screenshot.png \
		file://$(CURDIR)/_build/html/$(PAGE).html 2>/dev/null
	@echo "_build/screenshot.png"
