# make setup: create/update .venv with everything (idempotent; fast when nothing changed)
# make demo:  setup, then a real tuning run on bundled offline data
# make test:  setup, then the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
DEMO_OUT ?= autotune_demo

.PHONY: setup demo test clean
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml .ci/system-packages.txt
	bash .ci/install-system.sh .ci/system-packages.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	# paddleclas 2.4.2 is the newest wheel with the trainer; its own pins have no cp311 wheels (see docs/suites.md)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps paddleclas==2.4.2
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(VENV)/bin/paddle-autotune demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15 tests

clean:
	rm -rf $(VENV) $(DEMO_OUT)
