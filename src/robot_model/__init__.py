"""Robot models shared by the retargeting check and the robot process (neither imports the other)."""
