"""Learners, learned-reward wrappers and the PEBBLE-style training loop."""
