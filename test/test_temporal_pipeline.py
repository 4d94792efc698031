"""temporal.model: posebert in the pose pipeline (real part experts on real footage) and in the node over DDS."""
from __future__ import annotations

import dataclasses
import itertools

import cv2
import numpy as np
import pytest
from conftest import MEDIA, REPO, spin_until
from sensor_msgs.msg import Image
from whole_body_teleop.msg import WholeBodyPoseArray

from teleop_common.config import ConfigError, from_mapping
from teleop_common.frame_sources import VideoFileSource, rgb_frames
from teleop_common.layout import Part
from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.pose_msgs import msg_to_frame
from whole_body_pose.config import PoseNodeConfig, TemporalConfig
from whole_body_pose.pipeline import build_estimator
from whole_body_pose.temporal.skeleton import BODY_INDEX

CLIP = REPO.parent / "shared" / "media" / "upper_body_both_arms_reach_and_grasp_asl_want__intel.mkv"


def _frames(limit: int = 30) -> list[np.ndarray]:
    return [rgb for _, rgb in itertools.islice(rgb_frames(VideoFileSource(str(CLIP))), limit)]


def _limbs(model: str, frames: list[np.ndarray]) -> np.ndarray:
    config = PoseNodeConfig(enable_face=False, temporal=TemporalConfig(model=model))
    estimator = build_estimator(config)
    out = []
    for k, rgb in enumerate(frames):
        frame = estimator.process(rgb, int(k * 1e9 / 30), "camera", None)
        person = min(frame.poses, key=lambda p: p.track_id)
        out.append(person.points[BODY_INDEX[:6]])  # shoulders, elbows, wrists
    return np.array(out, dtype=np.float64)


def test_bad_temporal_model_fails_naming_the_key():
    with pytest.raises(ConfigError, match="temporal.model"):
        from_mapping(PoseNodeConfig, {"temporal": {"model": "kalman"}})


@pytest.mark.skipif(not CLIP.exists(), reason=f"real clip not present: {CLIP}")
def test_posebert_smooths_real_expert_poses_at_true_scale():
    frames = _frames()
    raw, refined = _limbs("none", frames), _limbs("posebert", frames)
    assert np.isfinite(refined).all()
    accel = lambda x: np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean()  # noqa: E731
    assert accel(refined) < 0.7 * accel(raw), (accel(refined), accel(raw))
    width = lambda x: np.median(np.linalg.norm(x[:, 0] - x[:, 1], axis=-1))  # noqa: E731
    assert abs(width(refined) - width(raw)) < 0.1 * width(raw)  # metric scale kept
    assert np.median(np.linalg.norm(refined - raw, axis=-1)) < 0.05  # no drift from the estimate


def test_node_publishes_posebert_refined_poses_over_dds(ros_node):
    import rclpy
    from test_pose_node import _image_msg, _yaml_parameters
    from whole_body_pose.node import WholeBodyPoseNode

    context = ros_node("anchor").context
    parameters = {**_yaml_parameters(), "temporal.model": "posebert", "enable_face": False}
    node = WholeBodyPoseNode(context=context, parameter_overrides=[
        rclpy.parameter.Parameter(k, value=v) for k, v in parameters.items()])
    try:
        assert dataclasses.asdict(node.config)["temporal"]["model"] == "posebert"
        assert type(node.estimator).__name__ == "TemporalStage"
        client = ros_node("camera")
        publisher = client.create_publisher(Image, "image", SENSOR_QOS)
        poses: list[WholeBodyPoseArray] = []
        client.create_subscription(WholeBodyPoseArray, "poses", poses.append, STATE_QOS)
        rgb = cv2.cvtColor(cv2.imread(str(MEDIA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
        stamps = iter(range(1, 1000))

        def three_answers() -> bool:
            if len({p.header.stamp.sec for p in poses}) < 3:
                publisher.publish(_image_msg(rgb, next(stamps)))
            return len({p.header.stamp.sec for p in poses}) >= 3
        assert spin_until([client, node], three_answers, timeout_s=90), "no refined poses"
        person = msg_to_frame(poses[-1]).poses[0]
        assert Part.BODY in person.present and np.isfinite(person.points[BODY_INDEX]).all()
        assert np.nanmedian(person.points[BODY_INDEX][:, 2]) > 0.5
        assert node.counters.get("error.estimator", 0) == 0
    finally:
        node.close()
        node.destroy_node()
