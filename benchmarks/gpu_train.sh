#!/usr/bin/env bash
# One shot on a fresh GPU machine: install the training subset of the stack, start a new leg of the EDSR
# twin's campaign from the shipped checkpoint (models/checkpoints/edsr_float.pt, continuing the committed
# curve benchmarks/training/edsr_float_curve.csv; or resume the state an earlier run left in $OUT), train
# for what is left of a fixed wall-clock budget, evaluate on Set5/Set14
# (../shared/data or ./shared/data; the embedded photographs without them) and write the state
# (an fqsr checkpoint), a weights-only checkpoint, the curve (edsr_float_curve.csv) and the log
# (gpu_train.log) to $OUT. Nothing is asked.
#
#   OUT=/some/folder bash benchmarks/gpu_train.sh [BUDGET_MINUTES=9] [extra benchmarks/train_campaign.py options]
#
# BUDGET_MINUTES bounds the whole run, installation included: training gets what is left after the
# install, less RESERVE_S (default 75) seconds for loading, evaluation and saving. The venv and the
# import shim go to $WORK (default ${TMPDIR:-/tmp}/fqsr-gpu-train); the repository is not written.
# It runs on a CPU as well (cuda is used when torch sees it): BUDGET_MINUTES=0.5 is an end-to-end check.
set -euo pipefail
start_s=$(date +%s)
budget_min=${1:-9}
shift || true
: "${OUT:?set OUT to the output folder}"
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-${TMPDIR:-/tmp}/fqsr-gpu-train}
reserve_s=${RESERVE_S:-75}
mkdir -p "$OUT" "$work"
exec > >(tee "$OUT/gpu_train.log") 2>&1
echo "gpu_train: budget ${budget_min} min, repo $repo, out $OUT, started $(date -u +%FT%TZ)"

# The training subset of `make install`: torch pinned (the local index's build, CUDA on a GPU machine),
# the pins of requirements.txt for what training imports, brevitas without its deps as the Makefile does.
venv=$work/venv
if [ ! -x "$venv/bin/python" ]; then python3 -m venv --system-site-packages "$venv"; fi
py=$venv/bin/python
grep -E '^(numpy|scikit-image|imageio|tqdm|click|dependencies|packaging|sympy|typing-extensions|unfoldNd|psutil)\b' \
    "$repo/requirements.txt" > "$work/requirements-train.txt"
brevitas=$(grep -o 'brevitas==[0-9.]*' "$repo/Makefile" | head -1)
"$py" -m pip install -q --disable-pip-version-check torch==2.13.0
"$py" -m pip install -q --disable-pip-version-check -r "$work/requirements-train.txt"
"$py" -m pip install -q --disable-pip-version-check --no-deps "$brevitas"
# fqsr's packages map onto the repository's folders (pyproject.toml); a symlink shim imports them in place.
mkdir -p "$work/shim/fqsr"
for package in models flows hw sim reports apps; do ln -sfn "$repo/$package" "$work/shim/fqsr/$package"; done
export PYTHONPATH=$work/shim${PYTHONPATH:+:$PYTHONPATH}
"$py" -c "import torch, brevitas, fqsr.models.campaign
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true

for data in "$repo/../shared/data" "$repo/shared/data"; do
    if [ -d "$data" ]; then export FQSR_DATA=$(cd "$data" && pwd); break; fi
done
echo "data: ${FQSR_DATA:-none (embedded photographs)}"

state=$OUT/edsr_float.state.pt
curve=$OUT/edsr_float_curve.csv
committed=$repo/benchmarks/training/edsr_float_curve.csv
if [ ! -f "$state" ] && [ -f "$committed" ]; then cp "$committed" "$curve"; fi

# Minutes of training for the leg, and a hard stop 20 s after them, from what is left of the budget.
read -r train_min stop_min < <("$py" -c "import time; left = $start_s + $budget_min * 60 - time.time();
train = max(left - $reserve_s, 5); print(f'{train / 60:.3f} {(train + 20) / 60:.3f}')")
echo "training for $train_min min of the ${budget_min}-min budget ($(( $(date +%s) - start_s )) s spent installing)"
# On a GPU: twice the CPU batch, of patches twice as large (EDSR's own 48x48 LR patches), evaluation every
# 1000 iterations (a few seconds against a minute of training).
"$py" "$repo/benchmarks/train_campaign.py" edsr_float --state "$state" --curve "$curve" --new-leg \
    --minutes "$train_min" --stop-in "$stop_min" \
    --batch "${BATCH:-32}" --patch "${PATCH:-48}" --eval-every "${EVAL_EVERY:-1000}" "$@"
"$py" - "$state" "$OUT/edsr_float.pt" <<'PY'
import sys

from fqsr.models.checkpoint import load_model, save_checkpoint

model, meta = load_model("edsr_float", sys.argv[1])
meta.pop("checkpoint", None)
print("weights-only checkpoint:", save_checkpoint(sys.argv[2], model, meta))
PY
echo "gpu_train: done in $(( $(date +%s) - start_s )) s; results in $OUT"
ls -la "$OUT"
