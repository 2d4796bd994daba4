#!/usr/bin/env bash
# The learning results of the README: `robopref train` runs with the manipulation recipe
# (rlpd, scripted demonstrations, oracle preference labels, PRM shaping), SEEDS seeds each,
# JOBS at a time; each finished run's small summary goes to bench/results/<group>/ and the
# README table is made from those files (python -m robopref.benchmarks.results table DIR).
# Usage: bench/learning.sh [group ...]   groups: reach (default), reach-utd4, reach-critics10,
# reach-task5, reach-task10, reach-task10-n3 (3-step returns), reach-no-prm (recipe
# variants), reach-sac, reach-mistake, reach-stochastic (teacher noise), lift, lift-sparse,
# lift-prm (shaping ablation), lift-rand (domain randomization, then evaluated in
# PyBullet; lift-rand-sparse, lift-rand-no-prm, lift-rand-prm: randomized with the sparse
# reward alone, without the PRM, without preferences; lift-rand-task10: the success term
# weighted 10; lift-rand-level: the teacher judging by progress level, not gain:
# teacher.signal), lift-sparse-nodemo, lift-prm-nodemo (the shaping ablation without
# demonstrations), lift-prm30-x10-nodemo (and a PRM from 30 episodes, its shaping scaled 10),
# lift-progress-x10-nodemo (privileged-progress shaping scaled 10, the bound on PRM
# shaping), lift-prm132-x10-nodemo (bench/prm.sh's default lift PRM, 132 episodes: run
# bench/prm.sh panda-lift first), lift-prmmissed-x10-nodemo (that PRM's data plus 40
# missed-grasp episodes, prm-missed.pt: README, "Shaping without demonstrations"),
# lift-sparse-demo1, lift-prm-demo1 (and with one), push, push-sparse,
# push-prm, push-task10, push-utd2, push-prm-utd2 (2 updates per env step), push-prm30 (a
# PRM from 30 scripted episodes, 1,000 steps), push-prm30-x10 (and its shaping scaled 10),
# push-prm30-x10-bc, push-bc (behaviour cloning on the demonstrations, weight 0.1), push-her, push-prm-her
# (hindsight relabelling, 4 copies), push-progress, push-progress-x10 (shaping by the
# simulator's privileged progress: a perfect PRM, the upper bound of PRM shaping) and on it
# push-progress-x10-utd3 (3 updates per env step; push-utd3: the push recipe so),
# push-progress-x10-critic4 (4 critic updates, 1 actor update per env step:
# learner.policy_delay), push-progress-x10-dart (demonstrations recorded with noise 0.2:
# demo_noise), push-progress-x10-iv (corrections: the scripted expert takes over
# where the policy stalls, 3,000 steps from env step 10,000 on: interventions.*;
# push-progress-x10-iv6k: 6,000 steps, -task10: and the success term weighted 10, -n3:
# and 3-step returns (learner.n_step; -n5: 5-step; push-progress-x10-n3: 3-step returns
# alone);
# push-progress-x10-iv-g97: discount 0.97; push-iv: the push recipe with 6,000 steps,
# push-iv-n3: and 3-step returns; push-iv-n3-pen10: and a penalty of 10 on the policy's
# step into each takeover, interventions.penalty), push-iv-n3-fastexpert (push-iv-n3's flags,
# measured after the scripted push expert went from half to 0.75 speed: sim/experts.py),
# push-iv-n3-pen10-fastexpert (push-iv-n3-pen10's flags with that expert), push-iv-n3-g995
# (push-iv-n3 with discount 0.995: the long pushes' success is far off), push-iv-n3-utd2
# (push-iv-n3 with 2 updates per env step), push-iv-n3-level, reach-task10-level (the
# teacher judging by progress level: teacher.signal=progress-level),
# reach-task10-mistake, reach-task10-stochastic (teacher noise on the task10 recipe),
# reach-crowd, reach-crowd-calibrated (issue 18: the simulated crowd, five teachers answering
# each of 50 queries, 250 labels, 5% gold; annotator model none or calibrated),
# reach-crowd-gold20, reach-crowd-calibrated-gold20 (the same with 20% gold: ~10 gold
# answers per annotator instead of 2-3),
# pick-place, pick-place-iv-n3 (corrections, 12,000 steps from 10,000 on, 3-step returns). STEPS: lift/push/...
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
SEEDS=${SEEDS:-"0 1 2"}
JOBS=${JOBS:-2}
OUT=${OUT:-runs/bench-learning}
BIN=.venv/bin
groups=("${@:-reach}")
common="--no-progress --eval-episodes 20 --set log_every=500"
reach="--task panda-reach --reward sparse+pref+prm --labels 50 --steps 5000 --demos 10 \
--query-every 500 --segment-length 20 --set learner.learning_starts=500"
lift="--task panda-lift --labels 200 --steps ${STEPS:-50000} --algo rlpd --demos 10 \
--query-every 2500 --segment-length 25 --set learner.learning_starts=1000"
push="--task panda-push --labels 200 --steps ${STEPS:-50000} --algo rlpd --demos 10 \
--query-every 2500 --segment-length 25 --set learner.learning_starts=1000"
declare -A FLAGS=(
  [reach]="$reach --algo rlpd --set learner.gradient_steps=2"
  [reach-utd4]="$reach --algo rlpd --set learner.gradient_steps=4"
  [reach-critics10]="$reach --algo rlpd --set learner.gradient_steps=2 --set learner.critics=10"
  [reach-task5]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=5"
  [reach-task10]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=10"
  [reach-task10-level]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=10 \
--set teacher.signal=progress-level"
  [reach-task10-n3]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=10 \
--set learner.n_step=3"
  [reach-no-prm]="${reach/sparse+pref+prm/sparse+pref} --algo rlpd --set learner.gradient_steps=2"
  [reach-sac]="$reach --algo sac --set learner.gradient_steps=2"
  [reach-mistake]="$reach --algo rlpd --set learner.gradient_steps=2 --teacher mistake"
  [reach-task10-mistake]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=10 \
--teacher mistake"
  [reach-task10-stochastic]="$reach --algo rlpd --set learner.gradient_steps=2 --set task_weight=10 \
--teacher stochastic"
  [reach-crowd]="${reach/--labels 50/--labels 250} --algo rlpd --set learner.gradient_steps=2 \
--teacher crowd --set pebble.labels_per_query=5 --set pebble.gold_rate=0.05"
  [reach-crowd-calibrated]="${reach/--labels 50/--labels 250} --algo rlpd \
--set learner.gradient_steps=2 --teacher crowd --set pebble.labels_per_query=5 \
--set pebble.gold_rate=0.05 --set pebble.reward_annotator_model=calibrated"
  [reach-crowd-gold20]="${reach/--labels 50/--labels 250} --algo rlpd --set learner.gradient_steps=2 \
--teacher crowd --set pebble.labels_per_query=5 --set pebble.gold_rate=0.2"
  [reach-crowd-calibrated-gold20]="${reach/--labels 50/--labels 250} --algo rlpd \
--set learner.gradient_steps=2 --teacher crowd --set pebble.labels_per_query=5 \
--set pebble.gold_rate=0.2 --set pebble.reward_annotator_model=calibrated"
  [reach-stochastic]="$reach --algo rlpd --set learner.gradient_steps=2 --teacher stochastic"
  [lift-sparse]="$lift --reward sparse"
  [lift-prm]="$lift --reward sparse+prm"
  [lift-rand]="$lift --reward sparse+pref+prm --set env.randomize=true"
  [lift-rand-sparse]="$lift --reward sparse --set env.randomize=true"
  [lift-rand-no-prm]="$lift --reward sparse+pref --set env.randomize=true"
  [lift-rand-prm]="$lift --reward sparse+prm --set env.randomize=true"
  [lift-rand-level]="$lift --reward sparse+pref+prm --set env.randomize=true \
--set teacher.signal=progress-level"
  [lift-rand-task10]="$lift --reward sparse+pref+prm --set env.randomize=true --set task_weight=10"
  [lift-sparse-nodemo]="${lift/--demos 10/--demos 0} --reward sparse"
  [lift-prm-nodemo]="${lift/--demos 10/--demos 0} --reward sparse+prm"
  [lift-prm30-x10-nodemo]="${lift/--demos 10/--demos 0} --reward sparse+prm \
--set shaping.prm_episodes=30 --set shaping.prm_steps=1000 --set shaping.scale=10"
  [lift-progress-x10-nodemo]="${lift/--demos 10/--demos 0} --reward sparse+progress \
--set shaping.scale=10"
  [lift-prm132-x10-nodemo]="${lift/--demos 10/--demos 0} --reward sparse+prm \
--set shaping.prm=runs/bench-prm/panda-lift/prm.pt --set shaping.scale=10"
  [lift-prmmissed-x10-nodemo]="${lift/--demos 10/--demos 0} --reward sparse+prm \
--set shaping.prm=runs/bench-prm/panda-lift/prm-missed.pt --set shaping.scale=10"
  [lift-sparse-demo1]="${lift/--demos 10/--demos 1} --reward sparse"
  [lift-prm-demo1]="${lift/--demos 10/--demos 1} --reward sparse+prm"
  [pick-place]="--task panda-pick-place --reward sparse+pref+prm --labels 200 \
--steps ${STEPS:-100000} --algo rlpd --demos 10 --query-every 2500 --segment-length 25 \
--set learner.learning_starts=1000"
  [pick-place-iv-n3]="--task panda-pick-place --reward sparse+pref+prm --labels 200 \
--steps ${STEPS:-100000} --algo rlpd --demos 10 --query-every 2500 --segment-length 25 \
--set learner.learning_starts=1000 --set interventions.budget=12000 \
--set interventions.start=10000 --set learner.n_step=3"
  [lift]="$lift --reward sparse+pref+prm"
  [push]="$push --reward sparse+pref+prm"
  [push-sparse]="$push --reward sparse"
  [push-prm]="$push --reward sparse+prm"
  [push-task10]="$push --reward sparse+pref+prm --set task_weight=10"
  [push-utd2]="$push --reward sparse+pref+prm --set learner.gradient_steps=2"
  [push-prm-utd2]="$push --reward sparse+prm --set learner.gradient_steps=2"
  [push-prm30]="$push --reward sparse+prm --set shaping.prm_episodes=30 --set shaping.prm_steps=1000"
  [push-prm30-x10]="$push --reward sparse+prm --set shaping.prm_episodes=30 \
--set shaping.prm_steps=1000 --set shaping.scale=10"
  [push-prm30-x10-bc]="$push --reward sparse+prm --set shaping.prm_episodes=30 \
--set shaping.prm_steps=1000 --set shaping.scale=10 --set learner.bc_weight=0.1"
  [push-bc]="$push --reward sparse+pref+prm --set learner.bc_weight=0.1"
  [push-her]="$push --reward sparse+pref+prm --set learner.her_k=4"
  [push-prm-her]="$push --reward sparse+prm --set learner.her_k=4"
  [push-progress]="$push --reward sparse+progress"
  [push-progress-x10]="$push --reward sparse+progress --set shaping.scale=10"
  [push-progress-x10-utd3]="$push --reward sparse+progress --set shaping.scale=10 \
--set learner.gradient_steps=3"
  [push-utd3]="$push --reward sparse+pref+prm --set learner.gradient_steps=3"
  [push-progress-x10-critic4]="$push --reward sparse+progress --set shaping.scale=10 \
--set learner.gradient_steps=4 --set learner.policy_delay=4"
  [push-progress-x10-dart]="$push --reward sparse+progress --set shaping.scale=10 \
--set demo_noise=0.2"
  [push-progress-x10-iv]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=3000 --set interventions.start=10000"
  [push-progress-x10-iv6k]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=6000 --set interventions.start=10000"
  [push-progress-x10-iv-g97]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=3000 --set interventions.start=10000 --set learner.gamma=0.97"
  [push-progress-x10-iv6k-task10]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=6000 --set interventions.start=10000 --set task_weight=10"
  [push-progress-x10-iv6k-n3]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=6000 --set interventions.start=10000 --set learner.n_step=3"
  [push-progress-x10-iv6k-n5]="$push --reward sparse+progress --set shaping.scale=10 \
--set interventions.budget=6000 --set interventions.start=10000 --set learner.n_step=5"
  [push-progress-x10-n3]="$push --reward sparse+progress --set shaping.scale=10 \
--set learner.n_step=3"
  [push-iv]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000"
  [push-iv-n3]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3"
  [push-iv-n3-pen10]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3 --set interventions.penalty=10"
  [push-iv-n3-fastexpert]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3"
  [push-iv-n3-g995]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3 --set learner.gamma=0.995"
  [push-iv-n3-utd2]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3 --set learner.gradient_steps=2"
  [push-iv-n3-level]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3 --set teacher.signal=progress-level"
  [push-iv-n3-pen10-fastexpert]="$push --reward sparse+pref+prm --set interventions.budget=6000 \
--set interventions.start=10000 --set learner.n_step=3 --set interventions.penalty=10"
)
mkdir -p "$OUT"
for g in ${groups[*]}; do
  for s in $SEEDS; do
    dir=$OUT/$g-s$s
    rm -rf "$dir"
    bullet=""
    # A randomized MuJoCo run is also judged in the PyBullet twin (its eval-bullet.json goes
    # into the summary's cross_eval, so it is evaluated before it is summarized).
    case $g in
      *-rand|*-rand-*) bullet="&& $BIN/robopref eval $dir --backend bullet --episodes 20 --no-video > $dir-bullet.json";;
    esac
    echo "$BIN/robopref train $common ${FLAGS[$g]} --seed $s --run-dir $dir > $dir.json 2> $dir.log \
$bullet && $BIN/python -m robopref.benchmarks.results summarize $dir --name $g --out bench/results/$g"
  done
done | xargs -P "$JOBS" -I{} bash -c {}
for g in ${groups[*]}; do
  $BIN/python -m robopref.benchmarks.results table "bench/results/$g"
done
