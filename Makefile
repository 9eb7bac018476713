# Build and test entry points of layer:coordinator. Needs only python3 and make:
# the first run creates .venv with tox, and tox creates one environment per
# target from the pinned tests/requirements.txt.

PYTHON ?= python3
VENV := .venv
TOX := $(VENV)/bin/tox
# Extra arguments for tox; after "--" they replace the env's test paths, e.g.
# `make functional TOX_ARGS="-- tests/functional/test_build.py -k proof"`.
TOX_ARGS ?=

# `make demo UNITS=7 SEED=3` picks another model size or schedule.
UNITS ?= 5
SEED ?= 1

.PHONY: test lint unit functional demo bench fuzz digests check-digests clean

test: $(TOX)
	$(TOX) run -e lint,unit,functional $(TOX_ARGS)

lint unit functional: $(TOX)
	$(TOX) run -e $@ $(TOX_ARGS)

demo: $(TOX)
	$(TOX) run -e demo -- --units $(UNITS) --seed $(SEED)

# `make bench BENCH_UNITS=3,10` measures fewer application sizes.
BENCH_UNITS ?= 3,10,30,100

bench: $(TOX)
	$(TOX) run -e bench -- --units $(BENCH_UNITS)

# `make fuzz` runs the campaign in slices of 100 seeds, one JSON file each in
# FUZZ_DIR; run again, it keeps the slices already done for the same charm
# builds and simulator, so a stopped campaign resumes and a changed layer or
# simulator is tested again (`make clean` deletes .cache, and the slices with
# it). `make fuzz SCHEDULES=500 FIRST_SEED=20001` runs other seeds.
SCHEDULES ?= 10000
FIRST_SEED ?= 1
FUZZ_DIR ?= .cache/fuzz

fuzz: $(TOX)
	$(TOX) run -e fuzz -- --schedules $(SCHEDULES) --first-seed $(FIRST_SEED) --slices $(FUZZ_DIR)

# Trace digests (tests/functional/digest.py): one hash per simulated run of
# everything it did (hooks, tool calls with their answers, journal, final model
# and flags), to prove a refactor keeps behaviour. `make digests` records the
# campaign seeds DIGEST_SEEDS and the bench's layer rolls at DIGEST_BENCH units
# in DIGESTS (about 25 minutes with 2 jobs; DIGEST_NOTE says why in its
# header); `make check-digests` recomputes every run listed there and fails on
# any difference. To see why a run differs: `tox run -e digest -- --dump
# seed-17 > ref.txt` on the reference's commit, then `-- --diff ref.txt seed-17`.
DIGESTS ?= tests/functional/digests/reference.txt
DIGEST_SEEDS ?= 1-500
DIGEST_BENCH ?= 3,10
DIGEST_JOBS ?= 2
DIGEST_NOTE ?=

digests: $(TOX)
	$(TOX) run -e digest -- --record $(DIGESTS) --seeds $(DIGEST_SEEDS) \
		--bench $(DIGEST_BENCH) --jobs $(DIGEST_JOBS) --note "$(DIGEST_NOTE)"

check-digests: $(TOX)
	$(TOX) run -e digest -- --check $(DIGESTS) --jobs $(DIGEST_JOBS)

$(TOX): tests/requirements-tox.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r tests/requirements-tox.txt
	touch $@

clean:
	rm -rf $(VENV) .tox .cache .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
