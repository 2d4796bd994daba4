"""Task definitions (simulator-independent)."""

from sim.tasks.base import EpisodeRef, Placement, Task, TaskState
from sim.tasks.panda import PANDA_TASKS

__all__ = ["PANDA_TASKS", "EpisodeRef", "Placement", "Task", "TaskState"]
