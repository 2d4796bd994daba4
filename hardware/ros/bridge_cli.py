"""``robopref bridge``: run a policy on a robot over Cyclone DDS (ROS 2 topics, no ROS).

Connects to the robot's topics in ``--domain-id`` (``ROS_DOMAIN_ID``), runs ``--episodes``
episodes of the policy at the control rate through the shared controller and the safety
layer, and saves each episode in the shared format under ``--episode-dir``. The policy is
a built-in or an import path (``--policy``), a trained run directory (``--run``: its
latest checkpoint, checked against the robot by :mod:`hardware.policies.run`), or a policy
exported to an evaluator blob (``--policy-blob``: run by the C evaluator, no torch;
:mod:`hardware.policies.blob`). With
``--reward`` (an exported ``.rpe`` blob, and ``--reward-encoder``, the PRM file it was
exported from, for the potential) every step's reward and potential are evaluated and
recorded with the episode; they never feed back into control. With ``--bag DIR`` the
session is also recorded as an MCAP rosbag2 (:mod:`hardware.ros.rosbag_record`), which
``robopref import`` turns back into episodes.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="robopref bridge",
        description="Run a policy on a ROS 2 arm through Cyclone DDS (no ROS install).",
    )
    p.add_argument("--robot", default="franka_panda", help="robot config name")
    p.add_argument("--policy", default=None, help="hold (default), reach or module:factory")
    p.add_argument("--policy-kwargs", default="{}", help="JSON keyword arguments of the policy")
    p.add_argument(
        "--run",
        default=None,
        metavar="RUN_DIR",
        help="trained run directory: the policy of its latest checkpoint (not with --policy); "
        "its task, cameras and frame size become the defaults",
    )
    p.add_argument(
        "--policy-blob",
        default=None,
        metavar="PATH",
        help="a state-based run's policy exported with `robopref export --policy` (.rpe), run "
        "by the C evaluator without torch; its state layout must be the robot's (not with "
        "--run or --policy)",
    )
    p.add_argument(
        "--task", default=None, help="task name for episode metadata (default: the run's)"
    )
    p.add_argument("--domain-id", type=int, default=None, help="DDS domain (ROS_DOMAIN_ID)")
    p.add_argument("--cameras", default=None, help="comma-separated cameras (default: all)")
    p.add_argument(
        "--image-size", type=int, default=None, help="policy frame size (default: the run's, 84)"
    )
    p.add_argument("--control-hz", type=float, default=None, help="control rate (default: sim's)")
    p.add_argument("--max-steps", type=int, default=None, help="episode length limit, steps")
    p.add_argument("--episodes", type=int, default=1, help="episodes to run")
    p.add_argument("--episode-dir", default=None, help="save episodes here")
    p.add_argument("--source", default="real", choices=("real", "bridge"), help="episode source")
    p.add_argument("--backend", default="real", help="episode backend metadata")
    p.add_argument("--startup-timeout", type=float, default=None, help="seconds to first data")
    p.add_argument("--summary-file", default=None, help="write a JSON summary here")
    p.add_argument(
        "--bag",
        default=None,
        metavar="DIR",
        help="also record the session as an MCAP rosbag2 in this new directory (joint "
        "states, camera images, commands, actions, rewards)",
    )
    p.add_argument(
        "--reward",
        default=None,
        metavar="PATH",
        help="exported reward evaluator blob (.rpe): its values are recorded with each step",
    )
    p.add_argument(
        "--reward-encoder",
        default=None,
        metavar="PATH",
        help="PRM file the blob's PRM head was exported from: its encoder feeds the potential",
    )
    p.add_argument(
        "--log-success",
        default="auto",
        choices=("auto", "on", "off"),
        help="log the reward blob's P(success) each step: auto (where it has a PRM success "
        "head), on (refuse to start without one), off",
    )
    return p


def load_bridge_policy(args: argparse.Namespace, robot) -> tuple[object, dict]:
    """The policy of ``--run``, ``--policy-blob`` or ``--policy``, and the
    :class:`BridgeConfig` fields it fixes (:meth:`LaunchConfig.load_policy`)."""
    from hardware.ros.launch_config import LaunchConfig

    return LaunchConfig.from_args(args).load_policy(robot)


def load_reward(args: argparse.Namespace, robot, cameras=None):
    """The bridge's ``reward_fn`` from ``--reward`` / ``--reward-encoder``, or None.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: ``--reward-encoder`` without ``--reward``, or a blob or encoder that is
            corrupt or does not fit the robot
            (:class:`hardware.core.reward_hook.EvaluatorRewardModel`).
    """
    from hardware.ros.launch_config import LaunchConfig

    return LaunchConfig.from_args(args).load_reward(
        robot, cameras, spelled=("--reward", "--reward-encoder")
    )


def open_bag(path: str, robot, config):
    """A :class:`hardware.ros.rosbag_record.BagRecorder` for a session of ``config`` on
    ``robot``, with the facts an import defaults to (task, control rate, cameras)."""
    from hardware.ros.rosbag_record import BagRecorder

    cams = config.cameras if config.cameras is not None else tuple(c.name for c in robot.cameras)
    session = {
        "task": config.task,
        "control_hz": config.control_hz,
        "image_size": list(config.size),
        "slop": config.slop,
        "source": config.source,
        "backend": config.backend,
    }
    return BagRecorder(path, robot, cams, config.command_lead or config.period, session)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the bridge; returns 0 when every episode ended without a fault or e-stop."""
    from hardware.core.bridge import Bridge
    from hardware.robots import get_robot
    from hardware.ros.dds_adapter import BridgeDdsAdapter, DdsCommandSink, DdsNode, domain_from_env
    from hardware.ros.launch_config import LaunchConfig
    from hardware.standin.sim_robot import interrupt_on_signal

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    robot = get_robot(args.robot)
    try:
        launch = LaunchConfig.from_args(args)
        policy, fixed = launch.load_policy(robot)
        config = launch.bridge_config(fixed, source=args.source, backend=args.backend)
    except (OSError, ValueError) as e:  # a bad run, a misfit or conflicting options
        parser.error(str(e))
    try:
        reward_fn = launch.load_reward(
            robot, config.cameras, spelled=("--reward", "--reward-encoder")
        )
    except (OSError, ValueError) as e:  # a missing, corrupt or unfitting file
        parser.error(str(e))
    if args.startup_timeout is not None:
        config = replace(
            config, safety=replace(config.safety, startup_timeout=args.startup_timeout)
        )
    bag = None
    if args.bag:
        try:
            bag = open_bag(args.bag, robot, config)
        except (OSError, ValueError) as e:  # the directory exists, or cannot be made
            parser.error(str(e))
    node = DdsNode(args.domain_id if args.domain_id is not None else domain_from_env())
    sink = DdsCommandSink(node, robot, config.command_lead or config.period)
    bridge = Bridge(robot, policy, sink, config=config, reward_fn=reward_fn, bag=bag)
    adapter = BridgeDdsAdapter(node, bridge)
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    done, failed = [], False
    try:
        with bridge:
            for _ in range(args.episodes):
                bridge.start()
                ep = adapter.run()
                if ep is not None:
                    stop = ep.metadata["stop_reason"]
                    done.append({"id": ep.episode_id, "steps": ep.length, "stop": stop})
                if bridge.fault or bridge.estop_latch.active:
                    failed = True
                    break
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        summary = {
            "episodes": done,
            "fault": bridge.fault,
            "commands": bridge.counters.commands,
            "holds": bridge.counters.holds,
            "hold_reasons": dict(bridge.counters.hold_reasons),
            "rejected_messages": bridge.counters.rejected_messages,
            "overruns": bridge.counters.overruns,
            "reward_errors": bridge.reward.errors,
            "joint_state_delay_s": adapter.delays.percentiles(),
        }
        if bag is not None:
            bag.close()
            summary["bag"] = {"path": str(bag.path), "messages": bag.counts}
        node.close()
    text = json.dumps(summary)
    print(text, flush=True)
    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as f:
            f.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
