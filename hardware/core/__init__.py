"""The bridge core: no middleware import (DESIGN.md, "ROS 2 without ROS 2").

Timestamped joint states and images in, the policy observation built with the sim's own
preprocessing, the policy, the controller and the safety layer, the reward from the C
evaluator, and the episode recorded; commands out through a :class:`CommandSink`.
"""
