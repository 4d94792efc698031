"""episode_recorder_node over real DDS with a real camera: episodes started and stopped by service,
read back with every message decoded (from the file's own schemas, as Foxglove does, and with the
installed ROS types); SIGTERM mid-episode leaves a complete file; a killed recorder's file recovers."""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import MEDIA, child_env, node_executable, spin_until
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from std_srvs.srv import Trigger

from teleop_common.pose_msgs import stamp_to_ns
from teleop_session.episodes import Episode, EpisodeError
from teleop_session.graph import CAMERA_SOURCE, CONFIG_DIR
from teleop_session.mcap_writer import recover
from teleop_session.graph import EPISODE_RECORDER

IMAGE = "/rec_test/image_raw"
INFO = "/rec_test/camera_info"




def _start(executable: str, config: str, name: str, *parameters: str, remap: tuple[str, ...] = ()) -> subprocess.Popen:
    command = [node_executable(executable), "--ros-args", "-r", f"__node:={name}", "--params-file", str(CONFIG_DIR / config)]
    for rule in remap:
        command += ["-r", rule]
    for parameter in parameters:
        command += ["-p", parameter]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env())


def _camera(*parameters: str, image: str = IMAGE, info: str = INFO) -> subprocess.Popen:
    return _start(CAMERA_SOURCE.executable, CAMERA_SOURCE.config_file, "rec_test_camera", *parameters,
                  remap=(f"image:={image}", f"camera_info:={info}"))


def _recorder(name: str, output_dir: Path, *parameters: str, image: str = IMAGE, info: str = INFO) -> subprocess.Popen:
    return _start(EPISODE_RECORDER.executable, EPISODE_RECORDER.config_file, name, f"output_dir:={output_dir}",
                  f"image_topics:=['{image}']", f"topics:=['{info}']", *parameters)


def _stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


@pytest.fixture(scope="module")
def camera():
    process = _camera(f"source:={MEDIA / 'Megamind.avi'}", "loop:=true")
    yield process
    _stop(process)


def _trigger(node, service: str) -> Trigger.Response:
    client = node.create_client(Trigger, service)
    assert spin_until([node], client.service_is_ready, timeout_s=60), f"{service} never appeared"
    future = client.call_async(Trigger.Request())
    assert spin_until([node], future.done, timeout_s=60), f"{service} never answered"
    return future.result()


def _wait_ready(node, image: str = f"{IMAGE}/compressed", info: str = INFO) -> None:
    """The camera publishes and the recorder has subscribed to its camera_info (found on the graph)."""
    assert spin_until([node], lambda: node.count_publishers(image) > 0 and node.count_subscribers(info) > 0,
                      timeout_s=60), "camera or recorder never came up"


def _record(node, recorder: str, seconds: float) -> Path:
    """Start an episode, record for `seconds`, return the file."""
    reply = _trigger(node, f"/{recorder}/start_episode")
    assert reply.success, reply.message
    spin_until([node], lambda: False, timeout_s=seconds)
    return Path(reply.message)


def _typed(episode: Episode, topic: str) -> list:
    return [item.message for item in episode.messages([topic])]


def _decode_all(path: Path) -> dict[str, list]:
    """Every message decoded from the file's own schemas only (what Foxglove and mcap tools do)."""
    decoded: dict[str, list] = {}
    with open(path, "rb") as stream:                                      # every chunk's and the summary's CRC
        assert sum(1 for _ in StreamReader(stream, validate_crcs=True).records) > 0
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        for _, channel, _, message in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append(message)
    return decoded


def test_episodes_by_service_read_back_completely(ros_node, camera, tmp_path):
    node = ros_node("recorder_test_client")
    recorder = _recorder("rec_episodes", tmp_path)
    try:
        parameters = AsyncParameterClient(node, "rec_episodes")
        assert spin_until([node], lambda: parameters.services_are_ready(), timeout_s=60)
        future = parameters.set_parameters([Parameter("task", value="hand over the cube")])
        assert spin_until([node], future.done, timeout_s=30)
        assert future.result().results[0].successful
        _wait_ready(node)
        path = _record(node, "rec_episodes", 4.0)
        assert not _trigger(node, "/rec_episodes/start_episode").success   # already recording
        stop = _trigger(node, "/rec_episodes/stop_episode")
        assert stop.success and str(path) in stop.message
        second = _record(node, "rec_episodes", 0.5)
        assert _trigger(node, "/rec_episodes/stop_episode").success
        assert not _trigger(node, "/rec_episodes/stop_episode").success     # not recording
    finally:
        _stop(recorder)
    assert (path.name, second.name) == ("episode_0000.mcap", "episode_0001.mcap")

    episode = Episode(path)
    images, infos = episode.counts[f"{IMAGE}/compressed"], episode.counts[INFO]
    stats = episode.metadata["episode_stats"]
    assert images >= 20 and infos >= 20, stats                            # ~96 on an idle machine
    assert episode.task == "hand over the cube"
    assert int(stats["image.frames"]) == images and float(stats["image.fps"]) == pytest.approx(23.976, rel=0.05), stats
    # Frame accounting, exact on a loaded machine too.  The camera publishes each frame's CameraInfo
    # (reliable) with the image's stamp; images (best effort) may be lost on the way.
    ordered = sorted(stamp_to_ns(m.header.stamp) for m in _typed(episode, f"{IMAGE}/compressed"))
    image_stamps = set(ordered)
    info_stamps = [stamp_to_ns(m.header.stamp) for m in _typed(episode, INFO)]
    matched = sum(s in image_stamps for s in info_stamps) / len(info_stamps)
    assert float(stats[f"sync.{INFO}.matched"]) == pytest.approx(matched, abs=1e-4) and matched > 0.5, stats
    # every recorded image has its CameraInfo, but at the episode's two edges (one arrived before start
    # or after stop) and for infos the recorder itself dropped (counted)
    without_info = image_stamps - set(info_stamps)
    assert len(without_info - {ordered[0], ordered[-1]}) <= int(stats.get(f"recorder_dropped.{INFO}", 0)), stats
    # and every CameraInfo lies within the recorded images' span but at those edges: the episode's frames
    # are the recorded images plus the images lost on the way (infos inside the span without an image)
    inside = [s for s in info_stamps if ordered[0] <= s <= ordered[-1]]
    assert len(info_stamps) - len(inside) <= 2 + int(stats.get(f"recorder_dropped.{IMAGE}/compressed", 0)), stats
    # image.dropped_frames is the stamp-gap estimate it documents (frames missing at the median rate,
    # which also counts a camera that fell behind its schedule under load): recomputed here exactly
    gaps = np.diff(np.array(ordered, np.int64)) / 1e9
    period = float(np.median(gaps))
    assert float(stats["image.fps"]) == pytest.approx(1.0 / period, abs=1e-3)
    assert int(stats["image.dropped_frames"]) == int(np.maximum(np.rint(gaps / period) - 1, 0).sum()), stats

    by_schema = _decode_all(path)
    by_type = {}
    for item in episode.messages():
        by_type.setdefault(item.topic, []).append(item.message)
    assert {t: len(m) for t, m in by_schema.items()} == {t: len(m) for t, m in by_type.items()} == episode.counts
    for generic, typed in zip(by_schema[f"{IMAGE}/compressed"], by_type[f"{IMAGE}/compressed"]):
        assert bytes(generic.data) == bytes(typed.data) and generic.format == typed.format
        assert generic.header.stamp.sec == typed.header.stamp.sec
    for generic, typed in zip(by_schema[INFO], by_type[INFO]):
        np.testing.assert_allclose(generic.k, typed.k)
        assert (generic.width, generic.height, generic.distortion_model) == (typed.width, typed.height, "plumb_bob")
    frame = cv2.imdecode(np.frombuffer(bytes(by_type[f"{IMAGE}/compressed"][0].data), np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (528, 720, 3)


def test_sigterm_mid_episode_leaves_a_complete_file(ros_node, camera, tmp_path):
    node = ros_node("recorder_sigterm_client")
    recorder = _recorder("rec_sigterm", tmp_path)
    _wait_ready(node)
    path = _record(node, "rec_sigterm", 3.0)
    output = _stop(recorder, signal.SIGTERM)
    assert recorder.returncode == 0, output[-2000:]
    episode = Episode(path)                                                # summary and indexes present
    assert episode.counts[f"{IMAGE}/compressed"] >= 5                   # 72 on an idle machine
    assert {"episode", "episode_stats", "episode_end"} <= set(episode.metadata)
    assert int(episode.metadata["episode_stats"]["image.frames"]) == episode.counts[f"{IMAGE}/compressed"]
    assert sum(len(m) for m in _decode_all(path).values()) == sum(episode.counts.values())


def test_killed_recorder_leaves_a_recoverable_file(ros_node, camera, tmp_path):
    node = ros_node("recorder_kill_client")
    recorder = _recorder("rec_kill", tmp_path, "chunk_size_kib:=128")
    _wait_ready(node)
    path = _record(node, "rec_kill", 2.5)
    _stop(recorder, signal.SIGKILL)
    with pytest.raises(EpisodeError, match="recover"):
        Episode(path)
    result = recover(path, tmp_path / "recovered.mcap", image_topic=f"{IMAGE}/compressed")
    assert not result.complete and result.messages >= 5          # the chunks written before the kill
    episode = Episode(tmp_path / "recovered.mcap")
    images = episode.counts[f"{IMAGE}/compressed"]
    assert images >= 2 and episode.metadata["episode"]["episode_index"] == "0"
    stats = episode.metadata["episode_stats"]
    assert stats["recovered"] == "true" and int(stats["image.frames"]) == images
    decoded = _decode_all(tmp_path / "recovered.mcap")
    stamps = [stamp_to_ns(m.header.stamp) for m in decoded[f"{IMAGE}/compressed"]]
    assert stamps == sorted(stamps) and len(stamps) == images


def test_raw_camera_is_stored_as_jpeg(ros_node, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "messi.png"), cv2.resize(cv2.imread(str(MEDIA / "messi5.jpg")), (320, 200)))
    image, info = "/rec_raw_test/image_raw", "/rec_raw_test/camera_info"
    node = ros_node("recorder_raw_client")
    raw_camera = _camera(f"source:={folder}", "loop:=true", "transport:=raw", "fps:=15.0", image=image, info=info)
    recorder = _recorder("rec_raw", tmp_path / "episodes", image=image, info=info)
    try:
        _wait_ready(node, image, info)
        path = _record(node, "rec_raw", 2.0)
        assert _trigger(node, "/rec_raw/stop_episode").success
    finally:
        _stop(recorder)
        _stop(raw_camera)
    messages = [m.message for m in Episode(path).messages([f"{image}/compressed"])]
    assert len(messages) >= 15 and messages[0].format == "bgr8; jpeg compressed bgr8"
    decoded = cv2.imdecode(np.frombuffer(bytes(messages[0].data), np.uint8), cv2.IMREAD_COLOR)
    original = cv2.resize(cv2.imread(str(MEDIA / "messi5.jpg")), (320, 200))
    assert decoded.shape == (200, 320, 3) and np.abs(decoded.astype(int) - original).mean() < 4.0
