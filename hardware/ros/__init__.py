"""The bridge on the ROS 2 wire: message types and conversions, the Cyclone DDS adapter, the
rclpy node, rosbag2 recording and import. Thin: all logic stays in :mod:`hardware.core`.
"""
