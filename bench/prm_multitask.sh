#!/usr/bin/env bash
# One multi-task PRM against one PRM per task, on panda-reach, panda-push, panda-lift and
# panda-pick-place. For each task: record bench/prm.sh's training mix (20 expert, 40 perturbed,
# 6 random; seeds 0/100/200) and held-out mix (10/20/4; seeds 1000/1100/1200) when missing, in
# bench/prm.sh's layout ($OUT/<task>/train and /test, so the recordings are shared), and train
# its per-task PRM ($OUT/<task>/prm-single.pt, on that training mix with the defaults) when
# missing. Then train one multi-task PRM (`train-prm --task a,b,c,d`, each frame conditioned on
# its episode's task) on the four training sets, linked into $OUT/multitask/train, and score it
# on every task's held-out set (`eval-prm --task`, which conditions it on that task), and each
# per-task model on its own.
# STEPS (default 1000): gradient steps of a per-task PRM. STEPS_MULTI (default 4 x STEPS): of
# the multi-task PRM, which sees four times the data at the same batch size.
# Output: the JSON lines of the train-prm runs and the 8 eval-prm calls (each names its model
# and task), also in RESULTS (default bench/results/prm/multitask.jsonl).
# Usage: bench/prm_multitask.sh   OUT=dir, STEPS=n, STEPS_MULTI=n, RESULTS=file; for a smoke
#   test only, fewer episodes with TRAIN="2 2 1" TEST="1 1 1" (expert perturbed random) and an
#   OUT and RESULTS of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
OUT=${OUT:-runs/bench-prm}
STEPS=${STEPS:-1000}
STEPS_MULTI=${STEPS_MULTI:-$((4 * STEPS))}
RESULTS=${RESULTS:-bench/results/prm/multitask.jsonl}
read -r n_expert n_perturbed n_random <<<"${TRAIN:-20 40 6}"
read -r t_expert t_perturbed t_random <<<"${TEST:-10 20 4}"
TASKS=(panda-reach panda-push panda-lift panda-pick-place)
rp=.venv/bin/robopref
source bench/prm_record.sh
mkdir -p "$(dirname "$RESULTS")" "$OUT/multitask/train"
{
  for t in "${TASKS[@]}"; do
    d="$OUT/$t"
    rec "$t" "$d/train" expert "$n_expert" 0; rec "$t" "$d/train" perturbed "$n_perturbed" 100
    rec "$t" "$d/train" random "$n_random" 200
    rec "$t" "$d/test" expert "$t_expert" 1000; rec "$t" "$d/test" perturbed "$t_perturbed" 1100
    rec "$t" "$d/test" random "$t_random" 1200
    if [ ! -f "$d/prm-single.pt" ]; then  # the same data and defaults as the multi-task one
      "$rp" reward train-prm --task "$t" --episodes "$d/train" --out "$d/prm-single.pt" --steps "$STEPS" --quiet --threads 1
    fi
    # Relative links: the loader reads them as episode files, and they survive moving OUT.
    for f in "$d/train"/*.episode.npz; do
      ln -sfn "../../$t/train/$(basename "$f")" "$OUT/multitask/train/"
    done
  done
  all=$(IFS=,; echo "${TASKS[*]}")
  "$rp" reward train-prm --task "$all" --episodes "$OUT/multitask/train" --out "$OUT/multitask/prm.pt" \
    --steps "$STEPS_MULTI" --quiet --threads 1
  for t in "${TASKS[@]}"; do  # each per-task model on its own task, the multi-task one on each
    "$rp" reward eval-prm "$OUT/$t/prm-single.pt" --episodes "$OUT/$t/test" --task "$t" --threads 1
    "$rp" reward eval-prm "$OUT/multitask/prm.pt" --episodes "$OUT/$t/test" --task "$t" --threads 1
  done
} | tee "$RESULTS"
