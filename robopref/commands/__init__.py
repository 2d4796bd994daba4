"""Subcommand groups of the ``robopref`` CLI, one module per group."""
