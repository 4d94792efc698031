"""The robot process: a simulated arm that takes what a ros2_control arm takes and publishes what it measures."""
