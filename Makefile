# `make demo`: set up a virtual environment and run the whole pipeline on generated demo videos.
# `make test`: set up the same environment, check the house style (ruff) and run the tests.
# `make bench`: every stage against a naive baseline, one table (bench/results.md), 5-6 minutes on 2 cores.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo_work
# Two pytest-xdist workers, each test file whole on one worker (its module fixtures are built once): the same CPU
# seconds in about half the wall time on 2 cores. `make test PYTEST_ARGS=` runs the tests in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: setup test demo clean-demo bench

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/python 00-make-demo-videos.py --output $(DEMO)/videos
	$(BIN)/python 01-convert-video-to-image.py --config configs/demo.yaml --dataset dfdc --input $(DEMO)/videos --output $(DEMO)/frames
	$(BIN)/python 02-crop-faces-with-mtcnn.py --config configs/demo.yaml --input $(DEMO)/frames --output $(DEMO)/faces
	$(BIN)/python 03-prepare-fake-real-dataset.py --config configs/demo.yaml --input $(DEMO)/faces --output $(DEMO)/dataset
	$(BIN)/python 04-train-cnn.py --config configs/demo.yaml --input $(DEMO)/dataset --output $(DEMO)/runs
	$(BIN)/python 00-make-demo-videos.py --output $(DEMO)/heldout --n-real 6 --seed 1 --prefix heldout
	$(BIN)/python 05-predict-video.py --config configs/demo.yaml --model $(DEMO)/runs/latest --input $(DEMO)/heldout --output $(DEMO)/predictions.csv --report $(DEMO)/report.html
	@echo "The analyst's report on the held-out videos: $(abspath $(DEMO)/report.html) (open it in a browser)"

bench: setup
	$(BIN)/python bench/run.py

clean-demo:
	rm -rf $(DEMO)
