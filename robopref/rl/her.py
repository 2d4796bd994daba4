"""Hindsight experience replay for the goal-conditioned Panda tasks (reach, push, pick-place).

HER (Andrychowicz et al. 2017) stores each transition again with goals the episode went on
to achieve, so an episode that pushed the cube to the wrong place still teaches how to push
a cube *somewhere*: with a sparse success reward that is most of what a learner sees of
success early on. This is HER's "future" strategy: each transition ``t`` is copied ``k``
times, each copy with the goal set to where the achieved position (the cube, or the TCP on
reach) was after a later step ``t' > t`` of the same episode, drawn uniformly. The state's
goal and its goal-relative vectors are rebuilt for the new goal (`sim.state.with_goal`), the
task reward is the task's own success test at the new goal (`Task.goal_reached`), and the
preference reward is the model's on the relabelled state (it reads the state, so the
buffer's `relabel` keeps it current). Shaping is 0 on the copies: a PRM or VLM potential is
computed from camera frames, which show the real marker, not the relabelled one.

Written here rather than with SB3's ``HerReplayBuffer``: that buffer needs a ``GoalEnv``
with ``observation/achieved_goal/desired_goal`` keys and relabels at sampling time, which
would bypass our buffer's demonstrations, stored reward terms and preference relabelling.
"""

from __future__ import annotations

import numpy as np

from sim.state import OBJECT_DIM, field_slices, proprio_dim, with_goal


def panda_arm_joints(state_dim: int) -> int:
    """The arm joints of a ``"full"`` Panda-workcell state of ``state_dim`` values."""
    for n in range(1, 13):
        if proprio_dim(n) + OBJECT_DIM == state_dim:
            return n
    raise ValueError(f"a state of {state_dim} values is not a full workcell state")


def hindsight_transitions(
    states: np.ndarray,
    actions: np.ndarray,
    task,
    k: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``k`` relabelled copies of every transition of one episode.

    Args:
        states: ``(T + 1, D)`` full states of the episode (reset state first).
        actions: ``(T, A)`` actions.
        task: the `sim.tasks.base.Task` (its ``achieved_field``, ``goal_reached`` and
            ``relabel_goal``).
        k: copies per transition.
        rng: draws the future steps.

    Returns:
        ``(states, actions, next_states, task_rewards)`` of ``k * T`` transitions.
    """
    if task.achieved_field is None:
        raise ValueError(f"{task.name}: success is not a distance to the goal; no hindsight")
    states, actions = np.asarray(states, np.float32), np.asarray(actions, np.float32)
    steps = len(actions)
    if len(states) != steps + 1:
        raise ValueError(f"{len(states)} states for {steps} actions; expected one more")
    n_arm = panda_arm_joints(states.shape[1])
    achieved = states[:, field_slices("full", n_arm)[task.achieved_field]]
    t = np.repeat(np.arange(steps), k)
    later = rng.integers(t + 1, steps + 1)  # a state reached after step t (t + 1 .. T)
    goals = task.relabel_goal(achieved[later])
    reward = task.goal_reached(achieved[t + 1], goals).astype(np.float32)
    return (
        with_goal(states[t], goals, n_arm),
        actions[t],
        with_goal(states[t + 1], goals, n_arm),
        reward,
    )


__all__ = ["hindsight_transitions", "panda_arm_joints"]
