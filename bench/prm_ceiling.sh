#!/usr/bin/env bash
# Why a task's PRM ranks its privileged progress below a Spearman of 1: what a frame-only
# model can rank at all (python -m robopref.benchmarks.progress_ceiling: a regressor from the
# positions a frame shows, against one given also the episode's reset positions), on
# bench/prm.sh's plain training and held-out episodes (recorded here if missing, the same
# seeds and directories). With SCALE=n (2 or 3) it also records n - 1 more copies of the
# default training mix (plain and randomized, other seeds), trains the default PRM on the
# n-fold mix and scores it on the plain and randomized held-out episodes, beside the default
# PRM on the 1-fold mix (bench/prm.sh's prm.pt, trained here if missing).
# With EXTRA_RANDOM=n it records n more random-policy episodes plain and n randomized (other
# seeds), trains the default PRM on bench/prm.sh's mixed training set plus them (PRM seeds 0
# and 1), and breaks each PRM's held-out Spearman down (progress_ceiling --prm: per recording
# policy, and with the frames at progress 0 ranked last), bench/prm.sh's prm.pt too (the same
# STEPS, default 1000); run bench/prm.sh TASK first.
# Usage: [SCALE=3] [EXTRA_RANDOM=18] bench/prm_ceiling.sh [task ...]   (default: panda-reach
# panda-push); OUT=dir
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
export MUJOCO_GL=${MUJOCO_GL:-egl}
OUT=${OUT:-runs/bench-prm}
SCALE=${SCALE:-1}
# Each mix's expert, perturbed and random episodes start at seeds 100 apart: beyond 3 copies
# the added mixes would reuse one another's scenes.
[[ $SCALE =~ ^[1-3]$ ]] || { echo "bench/prm_ceiling.sh: SCALE must be 1, 2 or 3, got '$SCALE'" >&2; exit 2; }
EXTRA_RANDOM=${EXTRA_RANDOM:-0}
[[ $EXTRA_RANDOM =~ ^[0-9]+$ ]] || { echo "bench/prm_ceiling.sh: EXTRA_RANDOM must be a count, got '$EXTRA_RANDOM'" >&2; exit 2; }
rp=.venv/bin/robopref
source bench/prm_record.sh
for t in ${@:-panda-reach panda-push}; do
  d="$OUT/$t"
  train_mix "$t" "$d/train" 1 0
  held_out "$t" "$d/test"
  .venv/bin/python -m robopref.benchmarks.progress_ceiling --train "$d/train" --test "$d/test"
  if [ "$SCALE" -gt 1 ]; then
    train_mix "$t" "$d/train-rand" 1 300 --randomize
    held_out "$t" "$d/test-rand" --randomize
    train_mix "$t" "$d/train-more" $((SCALE - 1)) 3000
    train_mix "$t" "$d/train-more-rand" $((SCALE - 1)) 3300 --randomize
    for n in 1 "$SCALE"; do
      m="$d/train-x$n"; mkdir -p "$m"
      ln -sf "$(realpath "$d/train")"/*.npz "$(realpath "$d/train-rand")"/*.npz "$m/"
      [ "$n" -gt 1 ] && ln -sf "$(realpath "$d/train-more")"/*.npz "$(realpath "$d/train-more-rand")"/*.npz "$m/"
      [ -f "$d/prm-x$n.pt" ] || "$rp" reward train-prm --task "$t" --episodes "$m" --out "$d/prm-x$n.pt" --quiet --threads 1
      "$rp" reward eval-prm "$d/prm-x$n.pt" --episodes "$d/test" --threads 1
      "$rp" reward eval-prm "$d/prm-x$n.pt" --episodes "$d/test-rand" --threads 1
    done
  fi
  if [ "$EXTRA_RANDOM" -gt 0 ]; then
    for need in train-mixed/. test-rand/. prm.pt; do
      [ -e "$d/$need" ] || { echo "bench/prm_ceiling.sh: $d/$need missing: run bench/prm.sh $t first" >&2; exit 2; }
    done
    rec "$t" "$d/train-random" random "$EXTRA_RANDOM" 600
    rec "$t" "$d/train-random-rand" random "$EXTRA_RANDOM" 700 --randomize
    m="$d/train-mixed-random$EXTRA_RANDOM"; mkdir -p "$m"
    ln -sf "$(realpath "$d/train-mixed")"/*.npz "$(realpath "$d/train-random")"/*.npz \
      "$(realpath "$d/train-random-rand")"/*.npz "$m/"
    models=("$d/prm.pt")
    for s in 0 1; do
      out="$d/prm-random$EXTRA_RANDOM-s$s.pt"
      [ -f "$out" ] || "$rp" reward train-prm --task "$t" --episodes "$m" --out "$out" --seed "$s" \
        --steps "${STEPS:-1000}" --quiet --threads 1
      models+=("$out")
    done
    for prm in "${models[@]}"; do
      for test in test test-rand; do
        .venv/bin/python -m robopref.benchmarks.progress_ceiling --train "$d/train" --test "$d/$test" \
          --prm "$prm" --seeds 0 | sed "s|^{|{\"test\": \"$test\", |"
      done
    done
  fi
done
