"""Composed mode over real DDS: teleop_container runs the pose and retargeting nodes in one process on
one executor, with the same names, parameter files and topics as separate processes."""
from __future__ import annotations

import os
import time

import cv2
import pytest
from conftest import MEDIA, REPO, spin_until
from sensor_msgs.msg import CameraInfo, CompressedImage
from whole_body_teleop.msg import TeleopStatus, WholeBodyPoseArray

from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.pose_msgs import stamp_to_ns
from teleop_session.container import parse_settings
from teleop_session.graph import CAMERA_IMAGE, CAMERA_INFO, POSE_RETARGET, TELEOP_GRAPH, WHOLE_BODY_POSE
from teleop_session.processes import NodeProcesses


def test_settings_name_their_node_and_bad_ones_fail_at_start_up():
    specs = list(TELEOP_GRAPH)
    assert parse_settings(["pose_retarget:engage.mode:=sync", "whole_body_pose:max_people:=1"], specs) == {
        "pose_retarget": {"engage.mode": "sync"}, "whole_body_pose": {"max_people": "1"}}
    for bad in ("nobody:max_people:=1", "whole_body_pose:max_people=1", "whole_body_pose::=1"):
        with pytest.raises(SystemExit, match="NODE:KEY:=VALUE"):
            parse_settings([bad], specs)


@pytest.mark.skipif(not (MEDIA / "messi5.jpg").is_file(), reason=f"real media missing: {MEDIA}")
def test_composed_graph_answers_a_camera_frame(ros_node, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    processes = NodeProcesses(tmp_path)
    client = ros_node("camera")
    image_pub = client.create_publisher(CompressedImage, CAMERA_IMAGE + "/compressed", SENSOR_QOS)
    info_pub = client.create_publisher(CameraInfo, CAMERA_INFO, STATE_QOS)
    poses: list[WholeBodyPoseArray] = []
    statuses: list[TeleopStatus] = []
    client.create_subscription(WholeBodyPoseArray, "/poses", poses.append, STATE_QOS)
    client.create_subscription(TeleopStatus, "/teleop_status", statuses.append, STATE_QOS)
    bgr = cv2.imread(str(MEDIA / "messi5.jpg"))
    jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    processes.start_composed([WHOLE_BODY_POSE, POSE_RETARGET], {POSE_RETARGET.name: {"engage.mode": "sync"}})
    try:
        def both_nodes_up() -> bool:
            processes.check_alive()
            names = {name for name, _ in client.get_node_names_and_namespaces()}
            return {WHOLE_BODY_POSE.name, POSE_RETARGET.name} <= names and image_pub.get_subscription_count() > 0
        assert spin_until([client], both_nodes_up, timeout_s=120), "composed nodes not up"
        answered: set[int] = set()

        def status_for_a_frame() -> bool:
            stamps = {stamp_to_ns(p.header.stamp) for p in poses if p.poses}
            answered.update(stamp_to_ns(s.header.stamp) for s in statuses if stamp_to_ns(s.header.stamp) in stamps)
            if not answered:
                msg = CompressedImage(format="jpeg", data=jpeg)
                msg.header.stamp = client.get_clock().now().to_msg()
                msg.header.frame_id = "camera_optical"
                info = CameraInfo(header=msg.header, width=bgr.shape[1], height=bgr.shape[0])
                info.k = [500.0, 0.0, bgr.shape[1] / 2, 0.0, 500.0, bgr.shape[0] / 2, 0.0, 0.0, 1.0]
                info_pub.publish(info)
                image_pub.publish(msg)
                time.sleep(0.05)
            return bool(answered)
        assert spin_until([client], status_for_a_frame, timeout_s=60), "no status answering a camera frame"
        answer = next(s for s in statuses if stamp_to_ns(s.header.stamp) in answered)
        assert [arm.name for arm in answer.arms] == ["left", "right"]
        processes.check_alive()
    finally:
        codes = processes.stop_all()
    assert codes == {"teleop_container": 0}, processes.log_tail("teleop_container")
