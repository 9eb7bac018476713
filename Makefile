# Build and test entry points of layer:coordinator. Needs only python3 and make:
# the first run creates .venv with tox, and tox creates one environment per
# target from the pinned tests/requirements.txt.

PYTHON ?= python3
VENV := .venv
TOX := $(VENV)/bin/tox
# Extra arguments for tox; after "--" they replace the env's test paths, e.g.
# `make functional TOX_ARGS="-- tests/functional/test_build.py -k proof"`.
TOX_ARGS ?=

# The Juju version jujusim plays (its profiles: 2.9, 3.6, 4): the current
# one, 4, unless told otherwise. `make demo`, `make fuzz` and `make digests`
# run on it; `make demo JUJU=3.6` or `make fuzz JUJU=3.6` runs on another.
JUJU ?= 4

# `make demo UNITS=7 SEED=3` (and `make simulate`) picks another model size or schedule.
UNITS ?= 5
SEED ?= 1

.PHONY: test lint unit functional demo simulate bench fuzz digests check-digests clean

test: $(TOX)
	$(TOX) run -e lint,unit,functional $(TOX_ARGS)

lint unit functional: $(TOX)
	$(TOX) run -e $@ $(TOX_ARGS)

demo: $(TOX)
	$(TOX) run -e demo -- --units $(UNITS) --seed $(SEED) --juju $(JUJU)

# `make simulate CHARM=path/to/built/charm TRIGGER='config version=2'` runs a
# charm author's own built charm (paths relative to this directory, or
# absolute): deploy on UNITS units of Juju JUJU, settle, trigger, run until no
# hook is due; prints the timeline and checks the coordination from the
# layer's own flags and log; exits 1 if a check fails. TRIGGER: 'config K=V',
# 'action NAME [UNIT|leader|all] [K=V]' or 'upgrade PATH', several separated
# by ';'. FAULTS='remove-leader fail-hook@30 ...', ALLOWED=N for a policy
# class of the charm's own, JSON=FILE for the report. `make simulate
# SCRIPT=my_scenario.py [CHARM=...]` runs a script of your own with jujusim
# importable, the charm's path as its argument (docs/simulator.md).
CHARM ?=
TRIGGER ?=
FAULTS ?=
ALLOWED ?=
JSON ?=
SCRIPT ?=

simulate: $(TOX)
ifneq ($(SCRIPT),)
	$(TOX) run -e simulate -- run "$(abspath $(SCRIPT))" $(if $(CHARM),"$(abspath $(CHARM))")
else
	@test -n "$(CHARM)" || { echo "make simulate: give CHARM=path/to/your/built/charm" >&2; exit 2; }
	$(TOX) run -e simulate -- simulate "$(abspath $(CHARM))" --units $(UNITS) \
		--seed $(SEED) --juju $(JUJU) $(if $(TRIGGER),--trigger "$(TRIGGER)") \
		$(foreach f,$(FAULTS),--fault $(f)) $(if $(ALLOWED),--allowed $(ALLOWED)) \
		$(if $(JSON),--json "$(abspath $(JSON))")
endif

# `make bench BENCH_UNITS=3,10` measures fewer application sizes; every size
# runs on each Juju of BENCH_JUJU, side by side (`make bench BENCH_JUJU=4`
# runs one). The original layer's stand-in needs leader settings: it runs on
# 3.6 only.
BENCH_UNITS ?= 3,10,30,100
BENCH_JUJU ?= 3.6,4

bench: $(TOX)
	$(TOX) run -e bench -- --units $(BENCH_UNITS) --juju $(BENCH_JUJU)

# `make fuzz` runs the campaign on Juju JUJU in slices of 100 seeds, one
# JSON file each in FUZZ_DIR (one folder per Juju); run again, it keeps the
# slices already done for the same Juju, charm builds and simulator, so a
# stopped campaign resumes and a changed layer or simulator is tested again
# (`make clean` deletes .cache, and the slices with it). `make fuzz
# SCHEDULES=500 FIRST_SEED=20001` runs other seeds, `make fuzz JUJU=3.6
# SCHEDULES=2000` another Juju.
SCHEDULES ?= 10000
FIRST_SEED ?= 1
FUZZ_DIR ?= .cache/fuzz/juju-$(JUJU)

fuzz: $(TOX)
	$(TOX) run -e fuzz -- --schedules $(SCHEDULES) --first-seed $(FIRST_SEED) \
		--slices $(FUZZ_DIR) --juju $(JUJU)

# Trace digests (tests/functional/digest.py): one hash per simulated run of
# everything it did (hooks, tool calls with their answers, journal, final model
# and flags), to prove a refactor keeps behaviour. `make digests` records the
# campaign seeds DIGEST_SEEDS and the bench's layer rolls at DIGEST_BENCH units
# in DIGESTS, all on Juju JUJU (about 11 minutes with 2 jobs; its header
# names the Juju, DIGEST_NOTE says why); `make check-digests` recomputes every
# run listed there on the Juju its header names (`make check-digests
# JUJU=3.6`: on that one instead) and fails on any difference. To see why a
# run differs: `tox run -e digest -- --dump seed-17 > ref.txt` on the
# reference's commit, then `-- --diff ref.txt seed-17` (both take --juju).
DIGESTS ?= tests/functional/digests/reference.txt
DIGEST_SEEDS ?= 1-200
DIGEST_BENCH ?= 3,10
DIGEST_JOBS ?= 2
DIGEST_NOTE ?=
# check-digests passes --juju only when JUJU is given (command line or
# environment): otherwise the reference's header decides.
DIGEST_CHECK_JUJU = $(if $(filter command line environment,$(origin JUJU)),--juju $(JUJU))

digests: $(TOX)
	$(TOX) run -e digest -- --record $(DIGESTS) --seeds $(DIGEST_SEEDS) \
		--bench $(DIGEST_BENCH) --jobs $(DIGEST_JOBS) --note "$(DIGEST_NOTE)" --juju $(JUJU)

check-digests: $(TOX)
	$(TOX) run -e digest -- --check $(DIGESTS) --jobs $(DIGEST_JOBS) $(DIGEST_CHECK_JUJU)

$(TOX): tests/requirements-tox.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r tests/requirements-tox.txt
	touch $@

clean:
	rm -rf $(VENV) .tox .cache .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
