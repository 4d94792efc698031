"""PoseFrame <-> whole_body_teleop/WholeBodyPoseArray conversion (ROS message types, no rclpy)."""
from __future__ import annotations

from array import array

import numpy as np
from std_msgs.msg import Header
from whole_body_teleop.msg import WholeBodyPose, WholeBodyPoseArray

from teleop_common.layout import LAYOUT_NAME, NUM_KEYPOINTS, Part
from teleop_common.pose import PersonPose, PoseFrame
from teleop_common.stamps import ns_to_stamp, stamp_to_ns  # noqa: F401 - re-exported for the nodes
from teleop_common.text import printable

_PART_FLAGS = {Part.BODY: "has_body", Part.LEFT_HAND: "has_left_hand",
               Part.RIGHT_HAND: "has_right_hand", Part.FACE: "has_face"}


class PoseMessageError(ValueError):
    """A pose message that does not match the layout (wrong name, wrong array lengths)."""


def _person_to_msg(person: PersonPose) -> WholeBodyPose:
    msg = WholeBodyPose(track_id=int(person.track_id), score=float(person.score), layout=LAYOUT_NAME)
    msg.box = np.asarray(person.box, np.float32)
    for part, flag in _PART_FLAGS.items():
        setattr(msg, flag, part in person.present)
    pixels = np.asarray(person.pixels, np.float32)
    points = np.asarray(person.points, np.float32)
    msg.u, msg.v = pixels[:, 0].copy(), pixels[:, 1].copy()
    msg.x, msg.y, msg.z = points[:, 0].copy(), points[:, 1].copy(), points[:, 2].copy()
    msg.confidence = np.asarray(person.confidence, np.float32)
    return msg


def frame_to_msg(frame: PoseFrame) -> WholeBodyPoseArray:
    return WholeBodyPoseArray(
        header=Header(stamp=ns_to_stamp(frame.stamp_ns), frame_id=frame.frame_id),
        poses=[_person_to_msg(p) for p in frame.poses],
        inference_latency_ms=float(frame.latency_ms))


def _floats(values) -> np.ndarray:
    """A float32[] field as an array: rclpy gives array.array('f'), read in place (a third of asarray's cost)."""
    if isinstance(values, array) and values.typecode == "f":
        return np.frombuffer(values, np.float32)
    return np.asarray(values, np.float32)


def _person_from_msg(msg: WholeBodyPose) -> PersonPose:
    if msg.layout != LAYOUT_NAME:
        raise PoseMessageError(f"pose layout {printable(msg.layout)} is not '{LAYOUT_NAME}'")
    arrays = [_floats(getattr(msg, name)) for name in ("u", "v", "x", "y", "z", "confidence")]
    if any(a.shape != (NUM_KEYPOINTS,) for a in arrays):
        raise PoseMessageError(f"pose arrays must have {NUM_KEYPOINTS} entries, got {[a.size for a in arrays]}")
    u, v, x, y, z, confidence = arrays
    return PersonPose(
        track_id=int(msg.track_id), score=float(msg.score), box=np.asarray(msg.box, np.float32),
        pixels=np.stack([u, v], axis=1), points=np.stack([x, y, z], axis=1), confidence=confidence,
        present=frozenset(part for part, flag in _PART_FLAGS.items() if getattr(msg, flag)))


def msg_to_frame(msg: WholeBodyPoseArray) -> PoseFrame:
    """Raises PoseMessageError on a message that does not follow the layout."""
    return PoseFrame(stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
                     poses=[_person_from_msg(p) for p in msg.poses],
                     latency_ms=float(msg.inference_latency_ms))
