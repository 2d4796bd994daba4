"""The run directory (DESIGN.md contract 6): where every file of a run lives.

One place names these paths, so that the trainer (`robopref.rl`), the query UI
(`robopref.ui`), ``robopref eval`` and the bridge's ``run`` argument agree. This module imports
nothing heavy: the UI and the bridge read runs without torch or SB3.

Layout of ``runs/<name>/``:

=========================== ==============================================================
``config.json``             the resolved training config (`robopref.rl.config.TrainConfig`)
``task.json``               the task's name and its one-sentence description for people
``labels.sqlite``           the label store: queries and labels (`LabelStore`)
``episodes/``               `EpisodeStore` of the episodes that queries point into
``clips/``                  the query UI's clip cache (one file per segment and camera)
``checkpoints/``            ``ckpt-<env_steps>/`` directories; ``latest`` names the newest
``reward/``                 reward models of the latest refit (``pref.pt``, ``prm.pt``)
``metrics.csv``             one row per log interval (every reward term by name)
``tb/``                     the same metrics for TensorBoard
``plots/``                  PNG plots (return, success, labels used against env steps)
``videos/``                 ``robopref eval`` videos, one per camera
``eval.json``               the last ``robopref eval`` result
``summary.json``            the final JSON line of ``robopref train``
=========================== ==============================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RunDirError(ValueError):
    """A path is not a usable run directory."""


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run directory (nothing is created until asked)."""

    root: Path

    @classmethod
    def of(cls, root: str | os.PathLike[str]) -> RunPaths:
        return cls(Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def task_file(self) -> Path:
        return self.root / "task.json"

    @property
    def labels(self) -> Path:
        return self.root / "labels.sqlite"

    @property
    def episodes(self) -> Path:
        return self.root / "episodes"

    @property
    def clips(self) -> Path:
        return self.root / "clips"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def reward(self) -> Path:
        return self.root / "reward"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @property
    def eval(self) -> Path:
        return self.root / "eval.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def create(self) -> RunPaths:
        for d in (self.root, self.episodes, self.checkpoints, self.reward, self.plots):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def read_config(self) -> dict[str, Any]:
        """The run's resolved config as a dict.

        Raises:
            RunDirError: when the directory or its ``config.json`` is missing or unreadable.
        """
        if not self.root.is_dir():
            raise RunDirError(f"no run directory at {self.root}")
        try:
            config = json.loads(self.config.read_text())
        except FileNotFoundError:
            raise RunDirError(f"{self.root} is not a run: it has no config.json") from None
        except (OSError, ValueError) as e:
            raise RunDirError(f"cannot read {self.config}: {e}") from e
        if not isinstance(config, dict):
            raise RunDirError(f"{self.config} must hold a JSON object")
        return config

    def task(self) -> str:
        """The run's task name (from its config)."""
        task = self.read_config().get("task")
        if not isinstance(task, str) or not task:
            raise RunDirError(f"{self.config} names no task")
        return task

    def write_task(self, task: str, description: str) -> None:
        """Records the task and its description (``task.json``), so that readers of the run
        (the query UI) show it without importing the simulator that defines it."""
        from robopref.data.storage import atomic_path

        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.task_file) as tmp:
            tmp.write_text(json.dumps({"task": task, "description": description}) + "\n")

    def task_description(self) -> str:
        """The description ``task.json`` records; empty when the run has none (a run made
        before it was written, or episodes imported without a trainer).

        Raises:
            RunDirError: a ``task.json`` that is unreadable or not a JSON object with a
                string ``description``.
        """
        try:
            data = json.loads(self.task_file.read_text())
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as e:
            raise RunDirError(f"cannot read {self.task_file}: {e}") from e
        text = data.get("description") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise RunDirError(f"{self.task_file} must hold an object with a string description")
        return text

    # --- checkpoints ---------------------------------------------------------------------
    # A checkpoint is a directory ``checkpoints/ckpt-<env_steps:010d>/`` holding ``model.zip``
    # (the SB3 learner: policy, critics, optimizers), ``replay_buffer.pkl`` (off-policy
    # learners), ``reward/`` (reward models), ``state.json`` (step counters, RNG states) and
    # ``MANIFEST.json`` (every file's size and SHA-256, written last). It is built under a
    # temp name and renamed into place; ``checkpoints/latest`` (a text file, replaced
    # atomically) then names it. Older ones are kept, so a corrupt newest one leaves the
    # previous one to load.
    def checkpoint_dirs(self) -> list[Path]:
        """Complete checkpoint directories, oldest first (temp directories are skipped)."""
        if not self.checkpoints.is_dir():
            return []
        return sorted(
            p for p in self.checkpoints.iterdir() if p.is_dir() and p.name.startswith("ckpt-")
        )

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint ``checkpoints/latest`` names, else the newest directory, else None."""
        pointer = self.checkpoints / "latest"
        try:
            name = pointer.read_text().strip()
        except OSError:
            name = ""
        if name.startswith("ckpt-") and "/" not in name and (self.checkpoints / name).is_dir():
            return self.checkpoints / name
        dirs = self.checkpoint_dirs()
        return dirs[-1] if dirs else None
