"""CameraInfo that cannot describe a real camera is refused by the pose node over real DDS: focal
lengths giving a field of view outside 10-170 degrees (fx = 1e-30 or 1e30), or an info smaller than
16 px, which rescaling to the image would blow up (a 1x1 info scaled to 640x480 gave a body depth of
1133 m).  The node counts it, keeps its last good intrinsics and keeps serving with sane depth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import MEDIA, spin_until
from sensor_msgs.msg import CameraInfo, Image
from test_pose_node import _image_msg, pose_node  # noqa: F401 - fixture
from whole_body_teleop.msg import WholeBodyPoseArray

from teleop_common.camera import CameraError, CameraIntrinsics
from teleop_common.layout import Part
from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.pose_msgs import msg_to_frame


def _info(width: int, height: int, fx: float) -> CameraInfo:
    info = CameraInfo(width=width, height=height)
    info.k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
    return info


@pytest.mark.parametrize("fx", [1e-30, 1e30, 10.0, 1e5])
def test_focal_lengths_outside_the_field_of_view_range_are_refused(fx: float) -> None:
    with pytest.raises(CameraError, match="field of view"):
        CameraIntrinsics.from_k(_info(640, 480, fx).k, 640, 480).checked()


def test_a_tiny_info_is_not_rescaled() -> None:
    assert CameraIntrinsics.from_k(_info(640, 480, 500.0).k, 640, 480).checked().fx == 500.0
    with pytest.raises(CameraError, match="too small to rescale"):
        CameraIntrinsics(0.5, 0.5, 0.5, 0.5, 1, 1).scaled_to(640, 480)


def test_pose_node_refuses_impossible_camera_info(ros_node, pose_node):  # noqa: F811 - fixture
    client = ros_node("camera")
    image_pub = client.create_publisher(Image, "image", SENSOR_QOS)
    info_pub = client.create_publisher(CameraInfo, "camera_info", STATE_QOS)
    poses: list[WholeBodyPoseArray] = []
    client.create_subscription(WholeBodyPoseArray, "poses", poses.append, STATE_QOS)
    nodes = [client, pose_node]
    rgb = cv2.cvtColor(cv2.imread(str(MEDIA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    assert spin_until(nodes, lambda: info_pub.get_subscription_count() > 0, timeout_s=10)

    good = _info(width, height, 500.0)
    info_pub.publish(good)
    assert spin_until(nodes, lambda: pose_node.camera is not None, timeout_s=10)
    for bad in (_info(width, height, 1e-30), _info(width, height, 1e30), _info(1, 1, 0.5)):
        before = pose_node.counters["error.bad_camera_info"]
        info_pub.publish(bad)
        assert spin_until(nodes, lambda: pose_node.counters["error.bad_camera_info"] > before, timeout_s=10)
        assert pose_node.camera.fx == 500.0 and pose_node.camera.width == width   # the last good one stays

    def answered() -> bool:
        if not any(p.header.stamp.sec == 7 for p in poses):
            image_pub.publish(_image_msg(rgb, 7))
        return any(p.header.stamp.sec == 7 for p in poses)
    assert spin_until(nodes, answered, timeout_s=60)
    frame = msg_to_frame(next(p for p in poses if p.header.stamp.sec == 7))
    depth = np.nanmedian(frame.poses[0].part_points(Part.BODY)[:, 2])
    assert 0.5 < depth < 20.0                       # metres, with the good intrinsics


def test_pose_node_never_reuses_a_track_id(ros_node, pose_node):  # noqa: F811 - fixture
    """Over DDS: a person, then empty frames until the node stops publishing them, then the same person
    at the same place: revived by the tracker, but under a new id (the retargeting node decides who it is)."""
    client = ros_node("camera")
    image_pub = client.create_publisher(Image, "image", SENSOR_QOS)
    poses: list[WholeBodyPoseArray] = []
    client.create_subscription(WholeBodyPoseArray, "poses", poses.append, STATE_QOS)
    nodes = [client, pose_node]
    rgb = cv2.cvtColor(cv2.imread(str(MEDIA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    blank = np.zeros_like(rgb)

    def people(image: np.ndarray, stamp_s: int) -> list:
        def answered() -> bool:
            if not any(p.header.stamp.sec == stamp_s for p in poses):
                image_pub.publish(_image_msg(image, stamp_s))
            return any(p.header.stamp.sec == stamp_s for p in poses)
        assert spin_until(nodes, answered, timeout_s=60), f"no poses for stamp {stamp_s}"
        return msg_to_frame(next(p for p in poses if p.header.stamp.sec == stamp_s)).poses

    first = people(rgb, 1)
    assert len(first) == 1
    stamp = 2
    while people(blank, stamp):                # held while the gap is short, then no longer published
        stamp += 1
    again = people(rgb, stamp + 1)
    assert len(again) == 1 and again[0].track_id > first[0].track_id
