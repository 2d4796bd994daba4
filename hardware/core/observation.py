"""The policy observation on the real robot, built with the simulator's own preprocessing.

``state`` comes from :func:`sim.state.proprio_state` (the function ``PandaTaskEnv`` uses for
``state="proprio"``) with the TCP from the shared kinematics, and its length, layout and
space from the same module (:mod:`sim.state`, the one source of the layout), so the layout,
dtype and meaning match simulation exactly. Camera frames become uint8 ``(H, W, 3)`` RGB at the
policy's image size: simulation renders at that size directly; a real camera's frame is
centre-cropped to the same aspect ratio, then resized (area interpolation when shrinking),
so a square sim view is not stretched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hardware.core.errors import MessageError
from hardware.core.samples import ImageSample, JointStateSample
from sim.scene import CAMERA_NAMES
from sim.state import observation_space as state_space
from sim.state import proprio_dim, proprio_state, state_layout


def state_dim(n_arm: int) -> int:
    """Length of the proprioceptive ``state``: q, qd, TCP position and finger width."""
    return proprio_dim(n_arm)


def robot_state_layout(robot) -> str:
    """The layout of the ``state`` the bridge builds for ``robot`` (a `RobotConfig`): the
    simulator's proprioceptive layout (`sim.state.state_layout`) of its arm, named by its
    kinematic model, so an exported policy's layout is compared with it as text."""
    return state_layout("proprio", robot.kinematics or robot.name, robot.n_arm)


def observation_space(n_arm: int, cameras: Sequence[str], image_size: tuple[int, int]):
    """The ``Dict`` space of :class:`sim.env.PandaTaskEnv` with ``state="proprio"``."""
    bad = [c for c in cameras if c not in CAMERA_NAMES]
    if bad:
        raise ValueError(f"unknown cameras {bad}; valid: {list(CAMERA_NAMES)}")
    return state_space(state_dim(n_arm), cameras, image_size)


def fit_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 ``image`` centre-cropped to the aspect of ``size`` and resized to it.

    Raises:
        MessageError: for anything but a uint8 ``(H, W, 3)`` array (a depth image, say).
    """
    import cv2

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise MessageError(
            f"a policy camera needs an RGB uint8 (H, W, 3) frame, got {image.dtype} "
            f"{image.shape} (depth streams are not policy inputs)"
        )
    h, w = size
    ih, iw = image.shape[:2]
    if (ih, iw) == (h, w):
        return image
    # Crop the larger side so that iw / ih == w / h, centred.
    if iw * h > ih * w:
        cw = max(1, round(ih * w / h))
        x0 = (iw - cw) // 2
        image = image[:, x0 : x0 + cw]
    elif iw * h < ih * w:
        ch = max(1, round(iw * h / w))
        y0 = (ih - ch) // 2
        image = image[y0 : y0 + ch]
    shrink = image.shape[0] > h
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=interp)


def joint_velocity(sample: JointStateSample, previous: JointStateSample | None) -> np.ndarray:
    """The sample's velocities, or a finite difference with ``previous`` when it has none."""
    if sample.velocity is not None:
        return sample.velocity
    if previous is None or previous.names != sample.names or sample.stamp <= previous.stamp:
        return np.zeros_like(sample.position)
    return (sample.position - previous.position) / (sample.stamp - previous.stamp)


class ObservationBuilder:
    """Joint states and frames -> the policy's observation dict.

    Args:
        arm_joints: Arm joint names, in the policy's order.
        gripper_joints: Finger joints whose positions sum to the finger width.
        tcp_position: ``q -> (3,)`` TCP position from the shared kinematics.
        cameras: Camera names (observation keys), in order.
        image_size: ``(height, width)`` of the policy's frames.
    """

    def __init__(self, arm_joints, gripper_joints, tcp_position, cameras, image_size):
        self.arm_joints = tuple(arm_joints)
        self.gripper_joints = tuple(gripper_joints)
        self.tcp_position = tcp_position
        self.cameras = tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.space = observation_space(len(self.arm_joints), self.cameras, self.image_size)

    def state(self, sample: JointStateSample, qd: np.ndarray) -> np.ndarray:
        """The float32 proprioceptive ``state`` vector."""
        idx = [sample.names.index(n) for n in self.arm_joints]
        q = sample.position[idx]
        width = 0.0
        if self.gripper_joints:
            width = float(sum(sample.position[sample.names.index(j)] for j in self.gripper_joints))
        return proprio_state(q, qd[idx], self.tcp_position(q), width)

    def build(
        self, sample: JointStateSample, qd: np.ndarray, frames: Mapping[str, ImageSample]
    ) -> dict[str, np.ndarray]:
        """The observation dict; keys, shapes and dtypes as ``self.space``.

        Raises:
            MessageError: when a camera is missing or its frame is not RGB.
        """
        obs = {"state": self.state(sample, qd)}
        for cam in self.cameras:
            if cam not in frames:
                raise MessageError(f"no frame from camera {cam!r}")
            obs[cam] = fit_image(frames[cam].image, self.image_size)
        return obs
