# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format clean bench bench-quick bench-calibration bench-fields bench-report bench-ray bench-examples bench-review dragon-synthetic bench-service studio reliability service

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,studio,dragon,parquet,ray,service]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clinextract run --task-dir examples/tasks --task-id 1 \
		--data-dir examples/data --example-dir examples/data --num-examples 3 \
		--output-dir output --run-name demo --show 3
	$(BIN)/python examples/score_demo.py output/demo/Task001_dutch_radiology-run0/nlp-predictions-dataset.json

LINTED := src tests bench examples scripts

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/calibration.py

bench-calibration: $(STAMP)
	$(BIN)/python bench/calibration.py

bench-fields: $(STAMP)
	$(BIN)/python bench/fields.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

bench-report: $(STAMP)
	$(BIN)/python bench/report_size.py

bench-ray: $(STAMP)
	$(BIN)/python bench/ray_scaling.py

bench-examples: $(STAMP)
	$(BIN)/python bench/examples_sweep.py

bench-service: $(STAMP)
	$(BIN)/python bench/service.py

bench-review: $(STAMP)
	$(BIN)/python bench/review_loop.py

dragon-synthetic: $(STAMP)
	$(BIN)/python bench/dragon_synthetic.py

# The reliability campaign (kill -9, corruption, write failures, engine faults, fuzzing,
# hangs, egress), about an hour on 2 cores; writes docs/reliability.md.
reliability: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tests.reliability.campaign

studio: $(STAMP)
	$(BIN)/clinextract studio

service: $(STAMP)
	$(BIN)/clinextract service --task-dir examples/tasks --example-dir examples/data

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

clean:
	rm -rf $(VENV) output .pytest_cache
