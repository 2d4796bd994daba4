# Sourced by bench/prm.sh, bench/prm_ceiling.sh and bench/prm_multitask.sh: the one way they
# record their episodes, so that every study's training and held-out sets are the same
# scenes (the same policies and seeds).

# rec TASK DIR POLICY EPISODES SEED [rollout flags]: records POLICY's episodes into DIR unless
# DIR already holds that many of them (a rerun reuses what an earlier run recorded).
rec() {
  [ -d "$2" ] && [ "$(ls "$2" | grep -c "^$3-")" -ge "$4" ] && return 0
  .venv/bin/robopref rollout --task "$1" --out "$2" --policy "$3" --episodes "$4" --seed "$5" \
    --no-video "${@:6}" >/dev/null 2>&1
}

# train_mix TASK DIR SCALE SEED0 [rollout flags]: the PRM training mix x SCALE: 20 expert, 40
# perturbed (the expert with bursts of random actions, which knock, drop and undo) and 6
# random-policy episodes, from seeds SEED0, SEED0 + 100 and SEED0 + 200.
train_mix() {
  rec "$1" "$2" expert $((20 * $3)) "$4" "${@:5}"
  rec "$1" "$2" perturbed $((40 * $3)) $(($4 + 100)) "${@:5}"
  rec "$1" "$2" random $((6 * $3)) $(($4 + 200)) "${@:5}"
}

# held_out TASK DIR [rollout flags]: the held-out mix, 10 expert, 20 perturbed and 4 random
# episodes from seeds 1000, 1100 and 1200 (with --randomize: the same scenes randomized).
held_out() {
  rec "$1" "$2" expert 10 1000 "${@:3}"
  rec "$1" "$2" perturbed 20 1100 "${@:3}"
  rec "$1" "$2" random 4 1200 "${@:3}"
}
