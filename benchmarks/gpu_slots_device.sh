#!/usr/bin/env bash
# gpu_slots.py on the GPU machine (one H100, PyTorch, no Paddle, no network), in two steps:
#
#   here, in the repository root:     bash benchmarks/gpu_slots_device.sh fetch
#   there, as ONE `run` call:         bash benchmarks/gpu_slots_device.sh run
#                                     (carry [".whl"], timeout_s 600; the machine back with give_back after)
#
# fetch: the plugin's pure-Python needs that the machine's image lacks, as wheels for its Python 3.12
# (x86-64), and the plugin itself built from this tree, into .whl/ (ignored by git; it travels only through
# `carry`). The image already has torch, numpy, PyYAML, psutil, matplotlib, tqdm, packaging, MarkupSafe,
# typing-extensions and scikit-learn. Checks that the wheels plus the tree stay well under the 64 MiB a
# call may carry.
# run: installs the wheels into /tmp/site, runs the benchmark in one go (its own budget is 450 s, the
# command is cut at 540 s) and leaves in $OUT: gpu_slots.json (for `gpu_slots.py --from`), gpu_slots.log
# and gpu_slots_logs.tgz (the studies' logs and trials.csv files).
set -euo pipefail
WHEELS=.whl
PINS="optuna==5.0.0 omegaconf==2.4.0 sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 colorlog==6.12.0"

fetch() {
    local py=${PYTHON:-.venv/bin/python}
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" $PINS
    "$py" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" .  # the plugin, as this tree has it
    rm -rf build
    ls -l "$WHEELS"
    local wheels_kb tree_kb
    wheels_kb=$(du -sk "$WHEELS" | cut -f1)
    tree_kb=$(git ls-files -z | xargs -0 du -ck | tail -1 | cut -f1)
    echo "wheels ${wheels_kb} KiB + tracked tree ${tree_kb} KiB (limit 65536 KiB a call)"
    if [ $((wheels_kb + tree_kb)) -gt 49152 ]; then echo "over 48 MiB: too close to the limit" >&2; exit 1; fi
}

run() {
    : "${OUT:?run this on the device machine, where OUT is set}"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv || echo "nvidia-smi failed"
    # from /tmp: in the repository root, the tree's paddle_autotune_plugins/ (no adapters/ inside) would be found first
    (cd /tmp && python3 -c "import torch, optuna, paddle_autotune_plugins as p; print('torch', torch.__version__, \
'cuda', torch.cuda.is_available(), 'optuna', optuna.__version__, 'plugin', p.__file__)")
    local code=0
    timeout 540 python3 benchmarks/gpu_slots.py --no-results --json "$OUT/gpu_slots.json" --keep /tmp/gpu_slots_run \
        2>&1 | tee "$OUT/gpu_slots.log" || code=$?
    (cd /tmp/gpu_slots_run && find . \( -name '*.log' -o -name 'trials.csv' -o -name '*.jsonl' -o -name 'command.txt' \) \
        -print0 | tar czf "$OUT/gpu_slots_logs.tgz" --null -T -) || true
    return $code
}

case "${1:-}" in
    fetch) fetch ;;
    run) run ;;
    *) echo "usage: bash benchmarks/gpu_slots_device.sh fetch|run" >&2; exit 2 ;;
esac
