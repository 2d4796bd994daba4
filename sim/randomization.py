"""Domain randomization: off by default, on with ``randomize=True`` or a config.

Each episode draws one :class:`RandomizationSample` from the environment's own generator
(seeded by ``reset(seed=...)``), so the same seed gives the same episode. Ranges follow
common sim-to-real practice (Tobin et al. 2017; Peng et al. 2018): multiplicative for
dynamics, a few centimetres and degrees for cameras.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from sim.scene import CameraSpec, SceneSpec


@dataclass(frozen=True)
class RandomizationConfig:
    """Which factors vary per episode, and by how much.

    Attributes:
        object_mass: Multiplicative range on the cube's mass.
        friction: Range of the cube/table sliding friction coefficient.
        joint_damping: Multiplicative range on the arm's joint damping.
        placement_spread: Factor on the nominal cube/goal placement ranges (1 = nominal).
        camera_pos_jitter: Max offset of each camera's eye and target, metres.
        camera_fov_jitter: Max change of each camera's vertical field of view, degrees.
        light_dir_jitter: Max change of each light direction component.
        light_intensity: Range of the light's diffuse intensity.
        colors: Whether the cube, goal and table colours vary.
        obs_noise_std: Std of Gaussian noise added to the ``state`` observation.
        action_latency_max: Actions reach the robot 0..N control steps late (drawn per episode).
    """

    object_mass: tuple[float, float] = (0.5, 2.0)
    friction: tuple[float, float] = (0.6, 1.2)
    joint_damping: tuple[float, float] = (0.7, 1.5)
    placement_spread: float = 1.25
    camera_pos_jitter: float = 0.02
    camera_fov_jitter: float = 3.0
    light_dir_jitter: float = 0.3
    light_intensity: tuple[float, float] = (0.5, 1.0)
    colors: bool = True
    obs_noise_std: float = 0.005
    action_latency_max: int = 1

    def __post_init__(self) -> None:
        for f in ("object_mass", "friction", "joint_damping", "light_intensity"):
            lo, hi = getattr(self, f)
            if not 0 <= lo <= hi:
                raise ValueError(f"{f} must be a range 0 <= low <= high, got {(lo, hi)}")
        for f in ("camera_pos_jitter", "camera_fov_jitter", "light_dir_jitter", "obs_noise_std"):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)}")
        if self.placement_spread <= 0:
            raise ValueError(f"placement_spread must be > 0, got {self.placement_spread}")
        if self.action_latency_max < 0:
            raise ValueError(f"action_latency_max must be >= 0, got {self.action_latency_max}")

    @classmethod
    def off(cls) -> RandomizationConfig:
        """Every factor at its nominal value (what ``randomize=False`` means)."""
        return cls(
            object_mass=(1.0, 1.0),
            friction=(1.0, 1.0),
            joint_damping=(1.0, 1.0),
            placement_spread=1.0,
            camera_pos_jitter=0.0,
            camera_fov_jitter=0.0,
            light_dir_jitter=0.0,
            light_intensity=(0.8, 0.8),
            colors=False,
            obs_noise_std=0.0,
            action_latency_max=0,
        )

    @classmethod
    def from_option(cls, option) -> RandomizationConfig:
        """``False``/``None`` -> off, ``True`` -> defaults, a dict -> overrides, or a config.

        Raises:
            ValueError: on an unknown key, listing the valid ones.
        """
        if option is None or option is False:
            return cls.off()
        if option is True:
            return cls()
        if isinstance(option, cls):
            return option
        if isinstance(option, dict):
            valid = {f.name for f in fields(cls)}
            bad = sorted(set(option) - valid)
            if bad:
                raise ValueError(f"unknown randomization options {bad}; valid: {sorted(valid)}")
            return replace(cls(), **option)
        raise ValueError(
            f"randomize must be a bool, a dict or a RandomizationConfig, not {option!r}"
        )


@dataclass(frozen=True)
class RandomizationSample:
    """One episode's draw: the scene to build and the non-scene factors."""

    scene: SceneSpec
    placement_spread: float
    obs_noise_std: float
    action_latency: int


def _jitter_camera(cam: CameraSpec, rng, cfg: RandomizationConfig) -> CameraSpec:
    j = cfg.camera_pos_jitter
    return replace(
        cam,
        pos=tuple(np.asarray(cam.pos) + rng.uniform(-j, j, 3)),
        target=tuple(np.asarray(cam.target) + rng.uniform(-j, j, 3)),
        fovy=float(cam.fovy + rng.uniform(-cfg.camera_fov_jitter, cfg.camera_fov_jitter)),
    )


def sample(cfg: RandomizationConfig, base: SceneSpec, rng: np.random.Generator):
    """Draw one episode's factors from ``rng`` around the nominal scene ``base``."""
    u = rng.uniform
    scene = replace(
        base,
        object_mass=base.object_mass * u(*cfg.object_mass),
        object_friction=float(u(*cfg.friction)) * base.object_friction,
        joint_damping_scale=base.joint_damping_scale * u(*cfg.joint_damping),
        light_dir=tuple(
            np.asarray(base.light_dir) + u(-cfg.light_dir_jitter, cfg.light_dir_jitter, 3)
        ),
        light_diffuse=float(u(*cfg.light_intensity)),
        cameras=tuple(_jitter_camera(c, rng, cfg) for c in base.cameras),
    )
    if cfg.colors:
        # Hue stays recognisable (red cube, green goal) so task descriptions remain true.
        scene = replace(
            scene,
            object_rgba=(u(0.6, 1.0), u(0.0, 0.3), u(0.0, 0.3), 1.0),
            goal_rgba=(u(0.0, 0.3), u(0.6, 1.0), u(0.0, 0.3), 0.6),
            table_rgba=(*u(0.3, 0.8, 3), 1.0),
        )
    latency = int(rng.integers(0, cfg.action_latency_max + 1))
    return RandomizationSample(scene, cfg.placement_spread, cfg.obs_noise_std, latency)
