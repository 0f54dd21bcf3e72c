# Two entry points do all the set-up on a fresh machine:
#   make demo   -> a virtual environment from nothing, then `midigan compose --bars 16 -o out/`
#   make test   -> the same environment, system packages for rendering, then lint + the whole test suite
# CI (.ci/run) calls `make test`.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOUNDFONT := /usr/share/sounds/sf2/FluidR3_GM.sf2
PYTEST_ARGS ?=

.PHONY: demo test lint system-deps clean-venv corpus bench gpu-wheels

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# Without a GPU, take the CPU build of torch first: a bare `torch` requirement would pull
	# several GB of CUDA wheels. With a GPU, pyproject's torch>=2.2 brings the CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q torch==2.13.0; fi
	$(BIN)/python -m pip install -q -e '.[dev,live]'
	touch $(STAMP)

# fluidsynth + a General MIDI SoundFont render WAV previews (midigan render --wav); tests render one.
system-deps:
	@if command -v fluidsynth >/dev/null 2>&1 && [ -f $(SOUNDFONT) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null; \
	elif command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null; \
	else echo "note: install fluidsynth and fluid-soundfont-gm for WAV rendering"; fi

# The demo's piece goes under out/ (ignored by git), never into the repository root.
demo: $(STAMP)
	$(BIN)/midigan compose --bars 16 -o out/

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# Rebuilds the tracked corpora/ in place: --force, since a build refuses a folder that holds files.
corpus: $(STAMP)
	$(BIN)/midigan corpus build --out corpora --force

# Every benchmark, each figure next to its peer measured in the same run (bench/RESULTS.md says
# how to read them). About 10 minutes on 2 cores; on a shared machine the ratios are what count.
bench: $(STAMP)
	$(BIN)/python bench/ingest.py --rounds 2
	$(BIN)/python bench/train.py --repeats 5
	$(BIN)/python bench/compose.py --threads 1
	bash bench/gpu.sh

# Wheels the GPU machine's image lacks (its python3 is 3.12 with CUDA torch, and nothing can be
# fetched there): carry .whl/ (ignored by git) with the tree; bench/gpu.sh installs from it.
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--platform manylinux_2_28_x86_64 -d .whl symusic mido pySmartDL platformdirs

clean-venv:
	rm -rf $(VENV)
