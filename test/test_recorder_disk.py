"""The recorder against real disk trouble, over real DDS with the real camera: a full file system (a small
tmpfs) ends the episode cleanly and the node keeps answering; the free-space guard stops an episode
before the disk fills and refuses the next; a SIGKILL loses about a second (chunks closed by age) and
the next recorder recovers the file at start-up; output_dir is checked at start-up; export refuses
absurd recorded figures with one line."""
from __future__ import annotations

import contextlib
import errno
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import spin_until
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from test_recorder_episode import IMAGE, _recorder, _start, _stop, _trigger, _wait_ready, camera  # noqa: F401 - fixture

from teleop_common.config import ConfigError
from teleop_common.text import printable
from teleop_session.episode_folder import UNFINISHED_SUFFIX, checked_folder, is_complete
from teleop_session.episodes import Episode
from teleop_session.graph import EPISODE_RECORDER
from teleop_session.mcap_writer import recover

IMAGES = f"{IMAGE}/compressed"
MIB = 1 << 20


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of the given size (MiB), unmounted after the test."""
    mounted = []

    def make(size_mib: int) -> Path:
        folder = tmp_path / f"disk_{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _watch(node, name: str) -> list[DiagnosticStatus]:
    """The recorder's /diagnostics statuses, as they arrive."""
    seen: list[DiagnosticStatus] = []
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: seen.extend(s for s in m.status if s.name.startswith(f"{name}:")), 10)
    return seen


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _timed(node, service: str):
    started = time.monotonic()
    reply = _trigger(node, service)
    return reply, time.monotonic() - started


def _fill(folder: Path) -> None:
    """Take whatever space is left, so that nothing more can be written."""
    with open(folder / "filler", "wb") as stream:
        try:
            while True:
                stream.write(b"\0" * 65536)
                stream.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


@dataclass
class _Episode:
    """An episode a recorder writes to a small disk until its diagnostics turn ERROR."""
    node: object
    statuses: list[DiagnosticStatus]
    folder: Path
    path: Path | None = None
    output: str = ""                 # the recorder's output, once it was stopped (SIGINT)
    returncode: int | None = None


@contextlib.contextmanager
def _episode_until_error(ros_node, small_disk, name: str, disk_mib: int, *params: str):
    folder = small_disk(disk_mib)
    node = ros_node(f"{name}_client")
    episode = _Episode(node, _watch(node, name), folder)
    recorder = _recorder(name, folder, *params)
    try:
        _wait_ready(node)
        reply = _trigger(node, f"/{name}/start_episode")
        assert reply.success, reply.message
        episode.path = Path(reply.message)
        statuses = episode.statuses
        assert spin_until([node], lambda: bool(statuses) and statuses[-1].level == DiagnosticStatus.ERROR,
                          timeout_s=120), [s.message for s in statuses[-3:]]
        yield episode
    finally:
        episode.output = _stop(recorder)
        episode.returncode = recorder.returncode


def test_full_disk_ends_the_episode_cleanly(ros_node, camera, small_disk, tmp_path):  # noqa: F811
    with _episode_until_error(ros_node, small_disk, "rec_full", 3, "min_free_mib:=0", "chunk_size_kib:=64") as run:
        status = run.statuses[-1]
        assert "No space left on device" in status.message and run.path.name in status.message
        assert _values(status)["state"] == "ERROR" and _values(status)["recording"] == "False"
        assert int(_values(status)["error.write_failed"]) == 1
        stop, stop_s = _timed(run.node, "/rec_full/stop_episode")
        assert not stop.success and "No space left on device" in stop.message
        _fill(run.folder)
        start, start_s = _timed(run.node, "/rec_full/start_episode")
        assert not start.success and "No space left on device" in start.message, start.message
        # the services answer at once (1 s asked; bound loose for a loaded machine)
        assert stop_s < 5.0 and start_s < 5.0, (stop_s, start_s)
        assert spin_until([run.node], lambda: run.statuses[-1].level == DiagnosticStatus.ERROR, timeout_s=5)
    assert run.returncode == 0, run.output[-3000:]                 # SIGINT still ends the process
    assert "Traceback" not in run.output, run.output[-3000:]
    assert not is_complete(run.path)
    result = recover(run.path, tmp_path / "recovered.mcap", image_topic=IMAGES)   # closed as far as written
    assert not result.complete and result.messages >= 5, result
    episode = Episode(tmp_path / "recovered.mcap")
    assert episode.counts[IMAGES] >= 5 and episode.metadata["episode"]["episode_index"] == "0"


def test_free_space_guard_stops_before_the_disk_fills(ros_node, camera, small_disk):  # noqa: F811
    with _episode_until_error(ros_node, small_disk, "rec_guard", 10, "min_free_mib:=8", "chunk_size_kib:=256") as run:
        assert "below min_free_mib 8" in run.statuses[-1].message
        refused = _trigger(run.node, "/rec_guard/start_episode")
        assert not refused.success and "below min_free_mib 8" in refused.message, refused.message
    assert run.returncode == 0, run.output[-3000:]
    assert shutil.disk_usage(run.folder).free >= 6 * MIB             # stopped with room to spare
    episode = Episode(run.path)                                       # closed properly: no recovery needed
    assert episode.counts[IMAGES] >= 5
    assert "below min_free_mib" in episode.metadata["episode_end"]["error"]
    assert int(episode.metadata["episode_stats"]["image.frames"]) == episode.counts[IMAGES]


def test_kill_loses_about_a_second_and_next_start_recovers(ros_node, camera, tmp_path):  # noqa: F811
    node = ros_node("rec_chunk_client")
    # chunks far larger than what 4 s bring: only their age closes them
    recorder = _recorder("rec_chunk", tmp_path, "chunk_size_kib:=16384", "chunk_max_s:=1.0")
    _wait_ready(node)
    reply = _trigger(node, "/rec_chunk/start_episode")
    assert reply.success, reply.message
    path = Path(reply.message)
    spin_until([node], lambda: False, timeout_s=4.0)
    killed_ns = time.time_ns()
    _stop(recorder, signal.SIGKILL)
    assert not is_complete(path)

    second = _recorder("rec_chunk2", tmp_path)
    try:
        reply = _trigger(node, "/rec_chunk2/start_episode")               # answers once recovery is done
        assert reply.success and reply.message.endswith("episode_0001.mcap"), reply.message
        assert _trigger(node, "/rec_chunk2/stop_episode").success
    finally:
        output = _stop(second)
    assert f"recovered unfinished episode {printable(str(path))}" in output, output[-3000:]   # escaped
    assert (tmp_path / (path.name + UNFINISHED_SUFFIX)).is_file()
    episode = Episode(path)                                              # rewritten in place, complete
    assert episode.metadata["episode_stats"]["recovered"] == "true"
    last_ns = max(item.log_time_ns for item in episode.messages([IMAGES]))
    assert episode.counts[IMAGES] >= 20
    assert killed_ns - last_ns < 3e9, (killed_ns - last_ns) / 1e9      # chunk_max_s 1 s, writer lag on a loaded CPU


def test_output_dir_is_checked_at_start(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for bad, why in ((f"{tmp_path}/../../etc", "'..'"), (str(a_file), "not a folder"), ("/proc/self", "system tree"),
                     ("", "empty")):
        with pytest.raises(ConfigError, match="output_dir") as raised:
            checked_folder(bad)
        assert why in str(raised.value)
    assert checked_folder(str(tmp_path / "new" / "episodes")) == (tmp_path / "new" / "episodes").resolve()
    # the node refuses to start with one FATAL line naming the key
    process = _start(EPISODE_RECORDER.executable, EPISODE_RECORDER.config_file, "rec_bad_dir", f"output_dir:={a_file}")
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 2, output[-2000:]
    assert "[FATAL] invalid configuration 'output_dir'" in output and "Traceback" not in output
