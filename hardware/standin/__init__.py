"""A MuJoCo stand-in arm that speaks a real arm driver's topics (``robopref sim-robot``)."""
