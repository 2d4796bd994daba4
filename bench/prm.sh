#!/usr/bin/env bash
# Process reward model on sim episodes: record training and held-out episodes (expert,
# perturbed, random), train a PRM per task, print its held-out figures (all views and every
# view subset), then one-shot adaptation to a variant (bigger blue cube) from one expert demo.
# The PRM (prm.pt) is trained the default way: the training mix recorded plain and again with
# domain randomization (light, camera pose and field of view, colours; other seeds), with the
# default augmentation (random shifts and colour jitter). For comparison, prm-plain.pt learns
# from the plain mix alone with shifts only (the recipe before issue 14). Both are scored on
# the plain held-out mix and on the same mix recorded with randomization. On lift and
# pick-place, prm-missed.pt adds 40 missed-grasp episodes (hard negatives) to the default mix.
# SIZE=128 records every episode at 128x128 instead of 84x84 (into OUT/TASK-128px) and trains
# and scores the default PRM only, at that input size, its random shift scaled to the same
# share of the image (issue 14: is resolution what limits a task's Spearman?).
# Usage: bench/prm.sh [task ...]   (default: panda-push panda-lift); OUT=dir, STEPS=n, SIZE=px.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
OUT=${OUT:-runs/bench-prm}
STEPS=${STEPS:-1000}
SIZE=${SIZE:-84}
[[ $SIZE =~ ^[0-9]+$ ]] && [ "$SIZE" -ge 36 ] || { echo "bench/prm.sh: SIZE must be >= 36 pixels, got '$SIZE'" >&2; exit 2; }
rp=.venv/bin/robopref
source bench/prm_record.sh
px=(--image-size "$SIZE")
size=(--image-size "$SIZE" --shift $(((4 * SIZE + 42) / 84)))  # DrQ's 4 px at 84, scaled
for task in "${@:-panda-push panda-lift}"; do
  for t in $task; do
    d="$OUT/$t"
    [ "$SIZE" = 84 ] || d="$OUT/$t-${SIZE}px"
    train_mix "$t" "$d/train" 1 0 "${px[@]}"
    held_out "$t" "$d/test" "${px[@]}"
    variant=(--object-size 0.028 --object-color 0.15,0.3,0.9,1)
    rec "$t" "$d/variant-demo" expert 1 2000 "${px[@]}" "${variant[@]}"
    rec "$t" "$d/variant-test" expert 6 2100 "${px[@]}" "${variant[@]}"
    rec "$t" "$d/variant-test" perturbed 12 2200 "${px[@]}" "${variant[@]}"
    held_out "$t" "$d/test-rand" "${px[@]}" --randomize
    train_mix "$t" "$d/train-rand" 1 300 "${px[@]}" --randomize
    mkdir -p "$d/train-mixed"  # both mixes, linked: the loader reads one directory
    ln -sf "$(realpath "$d/train")"/*.npz "$(realpath "$d/train-rand")"/*.npz "$d/train-mixed/"
    "$rp" reward train-prm --task "$t" --episodes "$d/train-mixed" --out "$d/prm.pt" --steps "$STEPS" \
      "${size[@]}" --quiet --threads 1
    "$rp" reward eval-prm "$d/prm.pt" --episodes "$d/test" --threads 1
    "$rp" reward eval-prm "$d/prm.pt" --episodes "$d/test-rand" --threads 1
    [ "$SIZE" = 84 ] || continue  # the size study scores the default PRM only
    "$rp" reward train-prm --task "$t" --episodes "$d/train" --out "$d/prm-plain.pt" --steps "$STEPS" \
      --color-jitter 0 --quiet --threads 1
    "$rp" reward eval-prm "$d/prm-plain.pt" --episodes "$d/test" --threads 1
    "$rp" reward eval-prm "$d/prm-plain.pt" --episodes "$d/test-rand" --threads 1
    "$rp" reward adapt-prm "$d/prm.pt" --demo "$d/variant-demo" --eval "$d/variant-test" --out "$d/prm-adapted.pt" --threads 1
    "$rp" reward compare sparse progress --task "$t" --episodes "$d/test"
    "$rp" reward compare "$d/prm.pt" progress --task "$t" --episodes "$d/test"
    "$rp" reward compare "$d/prm.pt" sparse --task "$t" --episodes "$d/test"
    case $t in panda-lift|panda-pick-place) ;; *) continue;; esac
    # Hard negatives where the expert grasps (README, "Shaping without demonstrations"):
    # the default mix plus 20 plain and 20 randomized missed grasps, prm-missed.pt.
    rec "$t" "$d/train-missed" missed-grasp 20 800
    rec "$t" "$d/train-missed-rand" missed-grasp 20 900 --randomize
    mkdir -p "$d/train-mixed-missed"
    ln -sf "$(realpath "$d/train-mixed")"/*.npz "$(realpath "$d/train-missed")"/*.npz \
      "$(realpath "$d/train-missed-rand")"/*.npz "$d/train-mixed-missed/"
    "$rp" reward train-prm --task "$t" --episodes "$d/train-mixed-missed" --out "$d/prm-missed.pt" \
      --steps "$STEPS" --quiet --threads 1
    "$rp" reward eval-prm "$d/prm-missed.pt" --episodes "$d/test" --threads 1
    "$rp" reward eval-prm "$d/prm-missed.pt" --episodes "$d/test-rand" --threads 1
  done
done
