# make setup: create/update .venv with everything (idempotent; fast when nothing changed)
# make demo:  setup, then a real tuning run on bundled offline data
# make test:  setup (both environments), then the whole test suite
# make test-fast: setup, then the unit tests only (tests/unit: under a minute)
# make setup-paddleformers: create/update .venv-paddleformers, the second environment PaddleFormers trials run in
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
DEMO_OUT ?= autotune_demo

.PHONY: setup setup-paddleformers demo test test-fast clean
setup: $(STAMP)

# Each step says what it installs before it starts; pip's own output stays quiet (-q): `make setup PIP_Q=` shows it
PIP_Q ?= -q
PIP := $(PY) -m pip install $(PIP_Q) --disable-pip-version-check
REQUIREMENTS_COUNT = $$(grep -cvE '^[[:space:]]*(\#|$$)' requirements.txt)

$(STAMP): requirements.txt pyproject.toml .ci/system-packages.txt
	@echo "[setup 1/5] Debian packages $$(grep -v '^#' .ci/system-packages.txt | xargs) (.ci/system-packages.txt): installs those missing"
	bash .ci/install-system.sh .ci/system-packages.txt
	@echo "[setup 2/5] the virtualenv $(VENV)"
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "[setup 3/5] $(REQUIREMENTS_COUNT) packages of requirements.txt and their dependencies (Paddle, PaddleDetection, PaddleNLP, PyTorch, Optuna ...): minutes on a fresh $(VENV); pip's own output: make setup PIP_Q="
	$(PIP) -r requirements.txt
	@echo "[setup 4/5] paddleclas 2.4.2, albumentations 1.3.1 and qudida without their pins"
	# paddleclas 2.4.2 is the newest wheel with the trainer; its own pins have no cp311 wheels (see docs/suites.md)
	$(PIP) --no-deps paddleclas==2.4.2
	$(PIP) --no-deps albumentations==1.3.1 qudida
	@echo "[setup 5/5] this plugin (paddle-autotune), editable"
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)
	@echo "[setup] done: $(VENV) is ready"

# PaddleFormers needs transformers >= 5 and aistudio-sdk >= 0.3, which PaddleNLP in .venv cannot live with
PF_VENV := .venv-paddleformers
PF_PY := $(PF_VENV)/bin/python
PF_STAMP := $(PF_VENV)/.setup-done
PF_PIP := $(PF_PY) -m pip install $(PIP_Q) --disable-pip-version-check
setup-paddleformers: $(PF_STAMP)

$(PF_STAMP): requirements-paddleformers.txt pyproject.toml
	@echo "[setup-paddleformers 1/3] the virtualenv $(PF_VENV)"
	test -x $(PF_PY) || python3 -m venv $(PF_VENV)
	@echo "[setup-paddleformers 2/3] paddlepaddle 3.3.1, paddleformers 1.2.0 and their pins (requirements-paddleformers.txt): 1.5 to 3.5 min on a fresh $(PF_VENV)"
	$(PF_PIP) -r requirements-paddleformers.txt
	@echo "[setup-paddleformers 3/3] this plugin (paddle-autotune), editable, without its coordinator's dependencies"
	$(PF_PIP) --no-deps --no-build-isolation -e .
	touch $(PF_STAMP)
	@echo "[setup-paddleformers] done: $(PF_VENV) is ready; PaddleFormers trials run there"

demo: setup
	$(VENV)/bin/paddle-autotune demo --out $(DEMO_OUT)

test: setup setup-paddleformers
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15 tests

test-fast: setup
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --durations=10 tests/unit

clean:
	rm -rf $(VENV) $(PF_VENV) $(DEMO_OUT)
