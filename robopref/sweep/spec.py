"""The sweep file: ``base`` settings, a ``grid`` of dotted keys to lists, and ``seeds``.

.. code-block:: yaml

    base:                          # any TrainConfig keys, nested or dotted
      task: panda-reach
      reward: sparse
      steps: 1500
      learner.learning_starts: 100
    grid:                          # dotted key -> list of values; the cross product
      learner.batch_size: [64, 256]
      pebble.selector: [uniform, disagreement]
    seeds: [0, 1, 2]
    cpus_per_run: 1                # Ray CPUs each run holds (default 1)

Every combination of grid values times every seed is one run. Everything that is wrong
with the file as a whole (an unknown key, named by its dotted path by the `TrainConfig`
parser; an empty grid; a value that is not a list; bad seeds; a bad ``base``) is a
`SweepError` here, before Ray starts. A grid *value* the config rejects fails its own run
only (`robopref.sweep.runner`), as the others go on.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robopref.rl.config import (
    ConfigError,
    TrainConfig,
    from_dict,
    merge,
    read_config_file,
    unflatten,
)

TOP_LEVEL = ("base", "grid", "seeds", "cpus_per_run")
# The sweep sets these for every run: one seed per run, one directory per run, no bar.
RESERVED = ("seed", "run_dir", "progress_bar")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+-]")


class SweepError(ValueError):
    """A sweep file is malformed; the message names the key."""


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a grid combination and a seed."""

    name: str
    """Directory name under ``<sweep>/runs/``: ``<setting>-s<seed>``."""
    setting: str
    """The grid combination, as ``key=value`` pairs joined by commas (``base``: no grid)."""
    seed: int
    overrides: dict[str, Any]
    """The grid values of this run, by dotted key."""
    config: dict[str, Any] = field(repr=False)
    """The run's nested config data (base, grid values, seed, run directory), checked by
    `robopref.rl.config.from_dict` in the worker."""


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    base: dict[str, Any]
    """Nested config data common to every run (already checked)."""
    grid: dict[str, list[Any]]
    seeds: tuple[int, ...]
    cpus_per_run: float = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "grid": self.grid,
            "seeds": list(self.seeds),
            "cpus_per_run": self.cpus_per_run,
        }

    def runs(self, root: str | os.PathLike[str]) -> list[SweepRun]:
        """Every run, grid combinations in file order, seeds innermost; run directories
        under ``<root>/runs/`` (absolute, so workers on other nodes of a shared filesystem
        find them)."""
        root = Path(root).absolute()
        keys = list(self.grid)
        runs = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            overrides = dict(zip(keys, values))
            setting = setting_name(overrides)
            for seed in self.seeds:
                name = f"{setting}-s{seed}"
                data = merge(self.base, unflatten(overrides))
                data = merge(
                    data,
                    {
                        "seed": seed,
                        "run_dir": str(root / "runs" / name),
                        "progress_bar": False,
                    },
                )
                if "refit_threads" not in data.get("pebble", {}):
                    # A refit's default is every core of the machine; concurrent runs would
                    # fight over them. A run holds cpus_per_run of Ray's CPUs: use those.
                    threads = max(1, int(self.cpus_per_run))
                    data = merge(data, {"pebble": {"refit_threads": threads}})
                runs.append(SweepRun(name, setting, seed, overrides, data))
        return runs


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def setting_name(overrides: dict[str, Any]) -> str:
    """``{"learner.batch_size": 64, "reward": "sparse+pref"}`` ->
    ``learner.batch_size=64,reward=sparse+pref``; ``base`` without a grid. Characters a
    directory name should not hold become ``_``."""
    if not overrides:
        return "base"
    text = ",".join(f"{k}={_value_text(v)}" for k, v in overrides.items())
    return _UNSAFE.sub("_", text)


def nest(data: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys (at any level) into sections: ``{"a.b": 1, "a": {"c": 2}}`` ->
    ``{"a": {"b": 1, "c": 2}}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise SweepError(f"base: keys must be strings, got {key!r}")
        if isinstance(value, dict):
            value = nest(value)
        try:
            out = merge(out, unflatten({key: value}))
        except ConfigError as e:
            raise SweepError(f"base: {e}") from e
    return out


def _default_at(key: str) -> Any:
    """The default value of a dotted config key, or None where there is none (unknown key,
    left for the parser to name)."""
    node: Any = TrainConfig().to_dict()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_grid_key(key: Any) -> None:
    if not isinstance(key, str) or not key:
        raise SweepError(f"grid: keys must be dotted config keys, got {key!r}")
    if key.split(".")[0] in RESERVED:
        raise SweepError(
            f"grid.{key}: set by the sweep for every run (seeds: lists the seeds); "
            "remove it from the grid"
        )
    # The TrainConfig parser names an unknown key by its dotted path and lists the valid
    # ones; its default value makes it check the key alone, the grid's values being each
    # run's own business.
    try:
        from_dict(unflatten({key: _default_at(key)}))
    except ConfigError as e:
        raise SweepError(f"grid.{key}: {e}") from e


def parse_sweep(data: Any, source: str = "sweep file") -> SweepSpec:
    """A `SweepSpec` from the mapping of a sweep file.

    Raises:
        SweepError: naming the key of the first problem found.
    """
    if not isinstance(data, dict):
        raise SweepError(f"{source}: a sweep file holds a mapping, got {type(data).__name__}")
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise SweepError(
            f"{source}: unknown sweep key {unknown[0]!r}; valid keys: {', '.join(TOP_LEVEL)}"
        )
    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise SweepError(f"base: expected a mapping of config keys, got {base!r}")
    base = nest(base)
    for key in RESERVED:
        if key in base:
            raise SweepError(f"base.{key}: set by the sweep for every run; remove it")
    try:
        from_dict(base)  # every run shares it: a bad base is the sweep's error, not a run's
    except ConfigError as e:
        raise SweepError(f"base: {e}") from e

    grid = data.get("grid", None)
    if grid is None:
        grid = {}
    elif not isinstance(grid, dict):
        raise SweepError(f"grid: expected a mapping of dotted keys to lists, got {grid!r}")
    elif not grid:
        raise SweepError("grid: empty; list values under a key, or leave grid out to sweep seeds")
    for key, values in grid.items():
        _check_grid_key(key)
        if not isinstance(values, list):
            raise SweepError(f"grid.{key}: expected a list of values, got {values!r}")
        if not values:
            raise SweepError(f"grid.{key}: an empty list makes no runs; give at least one value")
        names = [_UNSAFE.sub("_", _value_text(v)) for v in values]
        if len(set(names)) != len(names):
            raise SweepError(f"grid.{key}: a value is listed twice: {values!r}")

    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise SweepError(f"seeds: expected a non-empty list of integers, got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise SweepError(f"seeds: expected integers >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"seeds: a seed is listed twice: {seeds!r}")

    cpus = data.get("cpus_per_run", 1)
    if isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0:
        raise SweepError(f"cpus_per_run: expected a number > 0, got {cpus!r}")
    return SweepSpec(base=base, grid=dict(grid), seeds=tuple(seeds), cpus_per_run=cpus)


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """The sweep file at ``path`` (YAML or JSON), checked.

    Raises:
        SweepError: an unreadable file or a problem `parse_sweep` names.
    """
    try:
        data = read_config_file(path)
    except ConfigError as e:
        raise SweepError(str(e)) from e
    return parse_sweep(data, source=str(path))


__all__ = ["SweepError", "SweepRun", "SweepSpec", "load_sweep", "parse_sweep", "setting_name"]
