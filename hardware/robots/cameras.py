"""Default camera topics: one RealSense-style driver per camera, named after the sim camera.

``realsense2_camera`` launched with ``camera_name:=front_camera`` and an empty namespace
publishes ``/front_camera/color/image_raw``; these are deployment defaults, override them
with ``dataclasses.replace`` for another rig.
"""

from hardware.robots.base import CameraConfig

DEFAULT_CAMERAS = tuple(
    CameraConfig(name, f"/{name}_camera/color/image_raw") for name in ("front", "side", "wrist")
)
