"""camera_source_node over real DDS: a real video at its own rate, an image folder looping, raw and
JPEG transports, CameraInfo from the field of view; a missing or unreadable source stops it at start."""
from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import MEDIA, child_env, node_executable, spin_until
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from teleop_common.node_support import SENSOR_QOS, STATE_QOS
from teleop_common.pose_msgs import stamp_to_ns
from teleop_session.graph import CAMERA_SOURCE, CONFIG_DIR

EXECUTABLE = node_executable(CAMERA_SOURCE.executable)


def _camera(*parameters: str, **popen) -> list[str]:
    command = [EXECUTABLE, "--ros-args", "--params-file", str(CONFIG_DIR / CAMERA_SOURCE.config_file),
               "-r", "image:=/test_camera/image", "-r", "camera_info:=/test_camera/camera_info"]
    for parameter in parameters:
        command += ["-p", parameter]
    return command


def _env() -> dict[str, str]:
    return child_env()


def _file(name: str, content: bytes | Callable[[], bytes]):
    """A source file made in the test's folder; callable content is read then, never at collection."""
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(content() if callable(content) else content)
        return tmp / name
    return make


def _empty_folder(tmp: Path) -> Path:
    (tmp / "no_images").mkdir()
    (tmp / "no_images" / "readme.txt").write_text("no image here")
    return tmp / "no_images"


@pytest.mark.parametrize("make_source,reason", [
    (lambda tmp: tmp / "missing.avi", "no such file or folder"),
    (_file("empty.avi", b""), "file is empty"),
    (_file("text.avi", b"not a video\n" * 100), "not a video OpenCV/FFmpeg can open"),
    (_file("head.avi", lambda: (MEDIA / "Megamind.avi").read_bytes()[:3000]), "not a video OpenCV/FFmpeg can open"),
    (_empty_folder, "folder holds no image file"),
    (lambda tmp: Path("/dev/video63"), "no such file or folder"),
], ids=["missing", "empty", "text", "truncated-header", "empty-folder", "missing-device"])
def test_bad_source_fails_at_start_with_its_reason(tmp_path, make_source, reason):
    source = make_source(tmp_path)
    result = subprocess.run(_camera(f"source:={source}"), capture_output=True, text=True, timeout=60, env=_env())
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"camera source '{source}': {reason}" in result.stderr, result.stderr[-2000:]


def _collect(ros_node, topic_type, topic: str, command: list[str], timeout_s: float = 60.0):
    node = ros_node("camera_test_listener")
    images, infos = [], []
    node.create_subscription(topic_type, topic, images.append, SENSOR_QOS)
    node.create_subscription(CameraInfo, "/test_camera/camera_info", infos.append, STATE_QOS)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        spin_until([node], lambda: process.poll() is not None, timeout_s=timeout_s)
        spin_until([node], lambda: False, timeout_s=0.3)        # the last messages in flight
    finally:
        if process.poll() is None:
            process.kill()
    output = process.communicate()[0]
    return process.returncode, images, infos, output


def test_video_plays_at_its_own_rate_then_exits(ros_node):
    frames = 36
    code, images, infos, output = _collect(
        ros_node, CompressedImage, "/test_camera/image/compressed",
        _camera(f"source:={MEDIA / 'Megamind.avi'}", f"max_frames:={frames}", "wait_for_subscribers:=1",
                "fov_deg:=70.0"))
    assert code == 0, output[-2000:]
    assert f"after {frames} frames" in output
    assert len(images) >= frames - 2, f"{len(images)} of {frames} frames arrived"     # best effort
    stamps = np.array([stamp_to_ns(m.header.stamp) for m in images])
    assert np.median(np.diff(stamps)) / 1e9 == pytest.approx(1 / 23.976, rel=0.1)       # the file's rate
    first = cv2.imdecode(np.frombuffer(bytes(images[0].data), np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == (528, 720, 3) and images[0].header.frame_id == "camera_optical"
    expected = cv2.VideoCapture(str(MEDIA / "Megamind.avi")).read()[1]
    assert np.abs(first.astype(int) - expected).mean() < 4.0                             # JPEG of the real frame
    info = next(i for i in infos if i.header.stamp == images[0].header.stamp)
    fx = 360.0 / math.tan(math.radians(35.0))
    assert (info.width, info.height) == (720, 528)
    np.testing.assert_allclose([info.k[0], info.k[4], info.k[2], info.k[5]], [fx, fx, 360.0, 264.0])


def test_folder_loops_with_raw_transport(ros_node, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name, size in (("a_messi.png", (274, 171)), ("b_basketball.png", (320, 240))):
        source = cv2.imread(str(MEDIA / ("messi5.jpg" if "messi" in name else "basketball1.png")))
        cv2.imwrite(str(folder / name), cv2.resize(source, size))
    (folder / "notes.txt").write_text("ignored: not an image")
    code, images, infos, output = _collect(
        ros_node, Image, "/test_camera/image",
        _camera(f"source:={folder}", "loop:=true", "max_frames:=7", "fps:=15.0", "transport:=raw",
                "wait_for_subscribers:=1"))
    assert code == 0, output[-2000:]
    assert len(images) >= 6
    sizes = [(m.width, m.height) for m in images]
    assert set(sizes) == {(274, 171), (320, 240)}                   # both images, again and again (loop)
    assert all(m.encoding == "bgr8" and m.step == m.width * 3 for m in images)
    by_stamp = {i.header.stamp.sec * 10**9 + i.header.stamp.nanosec: i for i in infos}
    for image in images:
        info = by_stamp.get(stamp_to_ns(image.header.stamp))
        assert info is None or (info.width, info.height) == (image.width, image.height)


def test_player_core_paces_counts_and_calibrates_without_ros(tmp_path):
    """The camera session core: a folder at 50 fps, a bad file counted and skipped, max_frames, FOV calibration."""
    import threading

    from teleop_common.stats import EventCounter
    from teleop_session.camera_config import CameraSourceConfig
    from teleop_session.camera_player import CameraPlayer

    frame = cv2.imread(str(MEDIA / "messi5.jpg"))
    for name in ("a.png", "c.png", "d.png"):
        cv2.imwrite(str(tmp_path / name), frame)
    (tmp_path / "b.png").write_bytes(b"not a png")
    counters, reports, published = EventCounter(), [], []
    config = CameraSourceConfig(source=str(tmp_path), fps=50.0, max_frames=2, fov_deg=90.0)
    player = CameraPlayer(config, counters, lambda kind, detail: reports.append(kind), threading.Event())
    assert player.play(lambda f: published.append(time.monotonic())) is True
    assert len(published) == 2 and counters["frames"] == 2 and reports == ["bad_frame"]
    assert published[1] - published[0] >= 1 / 50 - 1e-3     # c waits for its slot on the 50 fps schedule
    calibration = player.calibration_for(frame)
    assert (calibration.width, calibration.height) == (frame.shape[1], frame.shape[0])
    assert abs(calibration.k[0] - frame.shape[1] / 2) < 1e-6   # 90 degrees: f = width / 2
    player.close()
