# qrie — developer entry points. `make help` lists every target with its description.
#
# Three virtual environments, kept apart on purpose:
#   .venv          the project, its tests and linters (requirements-dev.txt + `pip install -e .`)
#   .venv-sam      the AWS SAM CLI only (it pins its own boto3/botocore, which would fight ours)
#   .venv-checkov  checkov, the IaC security scanner (its own pins would fight both)
# Each is built once and rebuilt only when its inputs change (stamp files).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .venv-sam
SAM_CLI_VERSION ?= 1.170.0
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
ENV ?= dev
REGION ?= us-east-1
ACCOUNTS ?= 12
REHEARSAL_ACCOUNTS ?= 3
# `make deploy` takes the ExternalId of a first deploy from $QRIE_EXTERNAL_ID or asks for it
# (hidden); it never goes on a command line. Without one, an update keeps the stack's value.
# The functions' runtime (python3.13): src/Makefile builds the Lambda package with it (sam build,
# the package bench). python3.13 on PATH, else pyenv's; `make build LAMBDA_PYTHON=...` to choose.
ifeq ($(origin LAMBDA_PYTHON),undefined)
LAMBDA_PYTHON := $(shell for p in python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)' \
	2>/dev/null && break; done)
endif
ifneq ($(LAMBDA_PYTHON),)
export LAMBDA_PYTHON
endif

# `make invoke FN=<logical id> EVENT=<file>`; each function has a default sample event.
FN ?= JobHandlerFunction
DEFAULT_EVENT_JobHandlerFunction := inventory-s3.json
DEFAULT_EVENT_InventoryWorkerFunction := sqs-batch.json
DEFAULT_EVENT_ScanWorkerFunction := sqs-batch.json
DEFAULT_EVENT_PollingServiceFunction := schedule.json
EVENT ?= events/$(FN)/$(DEFAULT_EVENT_$(FN))

BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
VENV_STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# The browser tests drive Debian's chromium (Playwright cannot download its own browser here).
CHROMIUM ?= /usr/bin/chromium
# Only the Python folders that exist (ruff fails on a missing path).
PY_DIRS := $(wildcard src tests bench)
CFN_TEMPLATES := template.yaml $(wildcard onboarding/*.yaml)
TRANSLATED := .aws-sam/lint/template.json
# checkov: CloudFormation checks only, offline (no platform download), failures and skips only.
CHECKOV_FLAGS := --framework cloudformation --quiet --compact --skip-download
# No telemetry, no credentials needed for validate/lint; a fixed region so nothing asks for one.
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$(REGION)

.PHONY: help install lint unit integration browser chromium test docs build deploy rehearse \
	invoke demo console screenshots bench bench-quick bench-console capacity chaos mutation clean \
	distclean

help: ## Show this help
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "; print "Usage: make <target> [VAR=value]\n\nTargets:"} \
		/^[a-zA-Z_-]+:.*## / {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)
	@printf "\nVariables: PYTHON=%s ENV=%s REGION=%s FN=%s EVENT=%s ACCOUNTS=%s\n" \
		"$(PYTHON)" "$(ENV)" "$(REGION)" "$(FN)" "$(EVENT)" "$(ACCOUNTS)"

# --- environments ----------------------------------------------------------------------------

install: $(VENV_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) ## Create .venv (dev deps + editable qrie), .venv-sam (SAM CLI), .venv-checkov

$(VENV_STAMP): requirements-dev.txt src/requirements.txt src/requirements-tracing.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet -e . --no-deps
	touch $@

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	rm -f $(SAM_VENV)/.installed-*
	touch $@

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $@

# --- quality gates ---------------------------------------------------------------------------

lint: $(VENV_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) ## ruff, mypy, cfn-lint, sam validate --lint, checkov (template, translated, onboarding)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy
	$(BIN)/cfn-lint $(CFN_TEMPLATES)
	$(BIN)/python -m qrie_local.template translate template.yaml -o $(TRANSLATED) --region $(REGION)
	$(BIN)/cfn-lint $(TRANSLATED)
	$(SAM_ENV) $(SAM) validate --lint --template-file template.yaml --region $(REGION)
	$(CHECKOV) $(CHECKOV_FLAGS) $(addprefix -f ,$(CFN_TEMPLATES) $(TRANSLATED))

unit: $(VENV_STAMP) ## Unit tests (moto, in parallel)
	$(BIN)/pytest tests/unit -q -n auto

integration: $(VENV_STAMP) ## Integration tests (the local stack end to end)
	$(BIN)/pytest tests/integration -q

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (apt-get)"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi

chromium: $(CHROMIUM) ## Install Debian's chromium (for the browser tests) when it is missing

browser: $(VENV_STAMP) $(CHROMIUM) ## Browser tests of the web console (Playwright + chromium, local stack)
	$(BIN)/pytest tests/browser -q

test: install lint unit integration browser ## Everything CI runs: install, lint, unit, integration, browser

docs: $(VENV_STAMP) ## Regenerate docs/policies.md and docs/aws-calls.md from the policies and collectors
	$(BIN)/python -m qrie_cli.docs

# --- AWS -------------------------------------------------------------------------------------

build: $(SAM_STAMP) ## sam build: the functions (src/qrie only) and their layers (needs python3.13)
	@test -n "$(LAMBDA_PYTHON)" || { \
		echo "sam build needs python3.13, the functions' runtime (on PATH, or pyenv's)." >&2; \
		echo "Or name it: make build LAMBDA_PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(SAM_ENV) $(SAM) build --config-env $(ENV)

deploy: build $(VENV_STAMP) ## sam build, then sam deploy --config-env ENV (a first deploy asks for the ExternalId)
	$(if $(EXTERNAL_ID),$(error EXTERNAL_ID=... on the make command line shows in the process \
		list and the shell history: export QRIE_EXTERNAL_ID, or let make deploy ask for it))
	$(SAM_ENV) $(BIN)/python -m qrie_local.samdeploy --config-env $(ENV) --sam $(SAM)

rehearse: $(VENV_STAMP) $(SAM_STAMP) ## sam build + sam deploy onto the local AWS, then the README's qrie --stack-name commands
	$(BIN)/python -m qrie_local.rehearsal --accounts $(REHEARSAL_ACCOUNTS) --report rehearsal-report.json

invoke: $(VENV_STAMP) $(SAM_STAMP) ## Invoke FN with EVENT (sam local invoke, or the local runner without Docker)
	@test -f "$(EVENT)" || { echo "No event file $(EVENT) (FN=$(FN))" >&2; exit 1; }
	@if docker info >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory build && \
		$(SAM_ENV) $(SAM) local invoke $(FN) -e $(EVENT); \
	else \
		echo "Docker is not running: sam local invoke needs it; running the same event through the local runner instead"; \
		$(BIN)/qrie local invoke $(FN) $(EVENT); \
	fi

# --- local stack, benchmarks -----------------------------------------------------------------

demo: $(VENV_STAMP) ## Seed ACCOUNTS member accounts locally and run inventory + scan end to end
	$(BIN)/qrie demo --accounts $(ACCOUNTS)

console: $(VENV_STAMP) ## Web console on the local stack (started, and seeded with ACCOUNTS if empty)
	$(BIN)/qrie local up
	$(BIN)/qrie console --seed-if-empty $(ACCOUNTS)

screenshots: $(VENV_STAMP) $(CHROMIUM) ## Browser tests, writing the console's screenshots to docs/console
	QRIE_CONSOLE_SHOTS=docs/console $(BIN)/pytest tests/browser -q

bench: $(VENV_STAMP) ## Benchmarks (full; bench 6 sizes the python3.13 arm64 package), console pages
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.console_pages

bench-console: $(VENV_STAMP) ## The console's findings pages over a store of 10,000+ findings
	$(BIN)/python -m bench.console_pages

bench-quick: $(VENV_STAMP) ## Benchmarks (quick)
	$(BIN)/python -m bench.run --quick

capacity: $(VENV_STAMP) ## Capacity model for 1,000 / 10,000 / 50,000 accounts (from bench/results.json)
	$(BIN)/python -m bench.capacity_model

chaos: $(VENV_STAMP) ## Chaos run (~1,000 tasks under faults), throttling storm, 1,000-example fuzzing
	$(BIN)/python -m bench.chaos

# `make mutation GROUPS="reconcile table"` for some groups (pyproject's [tool.qrie.mutation.groups])
GROUPS ?=
mutation: $(VENV_STAMP) ## Mutation testing with mutmut (slow: never part of `make test`), docs/mutation.md
	$(BIN)/python -m bench.mutation $(GROUPS)

# --- housekeeping ----------------------------------------------------------------------------

clean: ## Remove build output, caches, local state and the demo report (keeps the venvs)
	rm -rf .aws-sam build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .qrie \
		.qrie-rehearsal demo-report.json rehearsal-report.json .coverage htmlcov .mutation
	find . -path ./$(VENV) -prune -o -path ./$(SAM_VENV) -prune -o -path ./$(CHECKOV_VENV) -prune \
		-o -path ./.git -prune -o \
		-name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## clean, and remove the virtual environments
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV)
