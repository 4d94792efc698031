"""Export recorded MCAP episodes to a LeRobot v3.0 dataset.

    python -m teleop_session.export EPISODES... --out DIR [--fps N] [--image-topic T]
                                    [--state-topic T] [--action-topics T ...] [--robot-type NAME]
                                    [--vcodec av1|h264]

EPISODES are episode files or folders of them.  Each episode is resampled on a uniform grid at the
dataset rate (LeRobot decodes video frames by timestamp = frame_index / fps) on the messages'
header stamps, not on when the recorder received them (delivery jitter would drop and repeat
frames): frame k is the camera image stamped nearest t0 + k/fps, with the robot JointState stamped
last at or before that image.  The action has one entry per robot joint (the state's names): the
latest position commanded for that joint (trajectory_msgs/JointTrajectory, any topic) before the
next frame, i.e. what the robot was told after that observation; a joint not commanded yet (robot
not engaged) holds its measured position.  Commands carry no stamp (stamp 0: execute on receipt), so
their receive time stands in for it (the same system clock the nodes stamp with).
`robot_type` defaults to the robot of the retargeting node's parameter file.
Topics are found by type when there is one of each (sensor_msgs/CompressedImage for the camera,
sensor_msgs/JointState for observation.state); every JointTrajectory topic is a command source.
"""
from __future__ import annotations

import argparse
import bisect
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from teleop_common.image_codec import BadImageError, decode_compressed
from teleop_common.pose_msgs import stamp_to_ns
from teleop_common.text import one_line
from teleop_session.episodes import Episode, EpisodeError
from teleop_session.lerobot_v3 import DEFAULT_VIDEO_CODEC, EpisodeFrames, LeRobotV3Writer
from teleop_session.video_encoder import CODECS

IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
STATE_TYPE = "sensor_msgs/msg/JointState"
COMMAND_TYPE = "trajectory_msgs/msg/JointTrajectory"
DEFAULT_TASK = "teleoperation"
MAX_FPS = 1000.0            # a dataset rate beyond any camera's: the recorded figure or the flag is wrong
MAX_UPSAMPLING = 8          # dataset frames per recorded image at most (more repeats images for nothing)
MAX_SIDE = 8192             # pixels: larger images are not a camera's


class ExportError(ValueError):
    """Episodes that cannot form one dataset (missing topics, differing joints or camera size)."""


@dataclass(frozen=True)
class Topics:
    image: str
    state: str
    actions: tuple[str, ...]


def find_topics(episode: Episode, image: str | None, state: str | None, actions: list[str] | None) -> Topics:
    """The given topics, or the only topic of each type in the episode."""
    def only(type_name: str, given: str | None, flag: str) -> str:
        if given:
            if given not in episode.topics:
                raise ExportError(f"{episode.path}: no topic {given}; recorded: {sorted(episode.topics)}")
            return given
        found = episode.topics_of_type(type_name)
        if len(found) != 1:
            raise ExportError(f"{episode.path}: {len(found)} {type_name} topics {found}; choose one with {flag}")
        return found[0]

    commands = actions if actions else episode.topics_of_type(COMMAND_TYPE)
    return Topics(only(IMAGE_TYPE, image, "--image-topic"), only(STATE_TYPE, state, "--state-topic"), tuple(commands))


class _Series:
    """Values over time (ns), sampled as 'latest at or before t'."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list = []

    def add(self, time_ns: int, value) -> None:  # noqa: ANN001 - a float or an array
        self.times.append(time_ns)
        self.values.append(value)

    def at(self, time_ns: float):  # noqa: ANN201
        i = bisect.bisect_right(self.times, time_ns) - 1
        return self.values[i] if i >= 0 else None

    def sort(self) -> None:
        """Stamps need not arrive in order (several publishers)."""
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        self.times = [self.times[i] for i in order]
        self.values = [self.values[i] for i in order]


def _time_ns(item) -> int:  # noqa: ANN001 - an EpisodeMessage
    """The message's header stamp; its receive time when it has no header or stamp 0."""
    header = getattr(item.message, "header", None)
    stamp = stamp_to_ns(header.stamp) if header is not None else 0
    return stamp if stamp > 0 else item.log_time_ns


def grid_indices(stamps_ns: np.ndarray, fps: float) -> np.ndarray:
    """For each point of the dataset grid t0 + k/fps over the images' span, the image stamped nearest it
    (stamps sorted).  Images at the dataset rate map one to one, whatever their stamps' jitter."""
    period = 1e9 / fps
    count = int(round((stamps_ns[-1] - stamps_ns[0]) / period)) + 1
    grid = stamps_ns[0] + np.arange(count) * period
    after = np.clip(np.searchsorted(stamps_ns, grid), 1, len(stamps_ns) - 1) if len(stamps_ns) > 1 else np.zeros(count, int)
    before = np.maximum(after - 1, 0)
    nearer_after = np.abs(stamps_ns[after] - grid) < np.abs(grid - stamps_ns[before])
    return np.where(nearer_after, after, before)


def checked_fps(fps: float, source: str) -> float:
    if not (np.isfinite(fps) and 1.0 <= fps <= MAX_FPS):
        raise ExportError(f"{source}: dataset rate {fps!r} fps is not in [1, {MAX_FPS:g}]; give --fps")
    return fps


def resample(episode: Episode, topics: Topics, fps: float, progress: tqdm) -> tuple[EpisodeFrames, list[str]]:
    """One episode on the dataset grid; returns the frames and the joint names (state and action)."""
    images: list[tuple[int, bytes]] = []
    names: list[str] | None = None
    state = _Series()
    commanded: dict[str, _Series] = {}
    for item in episode.messages([topics.image, topics.state, *topics.actions]):
        msg = item.message
        if item.topic == topics.image:
            images.append((_time_ns(item), bytes(msg.data)))
        elif item.topic == topics.state:
            names = names or list(msg.name)
            lookup = dict(zip(msg.name, msg.position))
            if set(names) <= set(lookup):
                state.add(_time_ns(item), np.array([lookup[n] for n in names], np.float64))
        elif msg.points:
            for name, position in zip(msg.joint_names, msg.points[0].positions):
                commanded.setdefault(name, _Series()).add(_time_ns(item), float(position))
    if not images or not state.times:
        raise ExportError(f"{episode.path}: {len(images)} images and {len(state.times)} joint states; need both")
    images.sort(key=lambda image: image[0])
    state.sort()
    for series in commanded.values():
        series.sort()
    image_times = np.array([t for t, _ in images], np.int64)
    period = 1e9 / fps
    grid_size = int((image_times[-1] - image_times[0]) // period) + 1
    if grid_size > MAX_UPSAMPLING * len(images):
        raise ExportError(f"{episode.path}: {fps:g} fps makes {grid_size} frames of {len(images)} images "
                          f"({(image_times[-1] - image_times[0]) / 1e9:.1f} s); give the camera's rate with --fps")

    frames, states, actions = [], [], []
    decoded: dict[int, np.ndarray] = {}
    consumed = 0
    for k, index in enumerate(grid_indices(image_times, fps)):
        index = int(index)
        time_ns = image_times[index]
        if index not in decoded:
            try:
                decoded = {index: decode_compressed(images[index][1], bgr=True)}
            except BadImageError as error:
                raise ExportError(f"{episode.path}: image {index} of {topics.image}: {error}") from error
            shape = decoded[index].shape
            size = shape if not frames else frames[0].shape
            if shape != size or max(shape[:2]) > MAX_SIDE or min(shape[:2]) < 2:
                raise ExportError(f"{episode.path}: image {index} of {topics.image} is {shape[1]}x{shape[0]}; "
                                  f"the episode's first is {size[1]}x{size[0]} (at most {MAX_SIDE} a side)")
        progress.update(max(index + 1 - consumed, 0))
        consumed = max(consumed, index + 1)
        measured = state.at(time_ns)
        measured = state.values[0] if measured is None else measured
        next_frame = image_times[0] + (k + 1) * period
        command = [commanded[n].at(next_frame) if n in commanded else None for n in names]
        frames.append(decoded[index])
        states.append(measured)
        actions.append([m if c is None else c for m, c in zip(measured, command)])
    progress.update(len(images) - consumed)
    return EpisodeFrames(task=episode.task or DEFAULT_TASK, frames=frames, state=np.asarray(states, np.float32),
                         action=np.asarray(actions, np.float32)), names


def episode_files(paths: list[str]) -> list[Path]:
    """Episode files named on the command line, folders expanded to their *.mcap in name order."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(path.glob("*.mcap"))
        elif path.is_file():
            files.append(path)
        else:
            raise ExportError(f"{name}: no such episode file or folder")
    if not files:
        raise ExportError(f"no .mcap episode in {paths}")
    return files


def export(paths: list[str], out: Path, fps: float = 0.0, image_topic: str | None = None,
           state_topic: str | None = None, action_topics: list[str] | None = None,
           robot_type: str | None = None, show_progress: bool = True, video_codec: str = DEFAULT_VIDEO_CODEC) -> dict:
    """Write the dataset; returns meta/info.json's content."""
    robot_type = robot_type or default_robot_type()
    episodes = [Episode(p) for p in episode_files(paths)]
    if fps <= 0:
        try:
            rate = float(episodes[0].metadata.get("episode_stats", {}).get("image.fps", "nan"))
        except ValueError:
            rate = float("nan")
        fps = checked_fps(float(round(rate)) if np.isfinite(rate) else rate, f"{episodes[0].path}: recorded image.fps")
    else:
        fps = checked_fps(fps, "--fps")
    writer: LeRobotV3Writer | None = None
    first_size: tuple[int, ...] | None = None
    total = 0
    for episode in episodes:
        total += episode.counts.get(find_topics(episode, image_topic, state_topic, action_topics).image, 0)
    with tqdm(total=total, unit="img", desc="export", disable=not show_progress, file=sys.stderr) as progress:
        for episode in episodes:
            topics = find_topics(episode, image_topic, state_topic, action_topics)
            progress.set_postfix_str(episode.path.name)
            frames, names = resample(episode, topics, fps, progress)
            if writer is None:
                writer = LeRobotV3Writer(out, int(fps), names, names, robot_type=robot_type, video_codec=video_codec)
            elif names != writer.state_names:
                raise ExportError(f"{episode.path}: joints {names} differ from the first episode's {writer.state_names}")
            size, first = frames.frames[0].shape, first_size or frames.frames[0].shape
            if size != first:
                raise ExportError(f"{episode.path}: images {size[1]}x{size[0]} differ from the first episode's "
                                  f"{first[1]}x{first[0]}")
            first_size = first
            writer.add_episode(frames)
    return writer.finish()


def default_robot_type() -> str:
    """The robot's name in the retargeting node's parameter file (config/pose_retarget.yaml)."""
    from robot_model.config import load_robot_config
    from teleop_common.config import load
    from teleop_session.graph import CONFIG_DIR, POSE_RETARGET

    config = load(POSE_RETARGET.load_config_class(), CONFIG_DIR / POSE_RETARGET.config_file)
    return load_robot_config(config.robot, config.robots_dir).name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export MCAP teleop episodes to a LeRobot v3.0 dataset.")
    parser.add_argument("episodes", nargs="+", help="episode .mcap files or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to create (must be empty or new)")
    parser.add_argument("--fps", type=float, default=0.0, help="dataset rate (default: the camera's, rounded)")
    parser.add_argument("--image-topic", help="CompressedImage topic (default: the only one)")
    parser.add_argument("--state-topic", help="JointState topic (default: the only one)")
    parser.add_argument("--action-topics", nargs="+", help="JointTrajectory command topics (default: all of them)")
    parser.add_argument("--robot-type", help="robot_type in meta/info.json (default: the robot of "
                        "config/pose_retarget.yaml)")
    parser.add_argument("--vcodec", choices=sorted(CODECS), default=DEFAULT_VIDEO_CODEC,
                        help="video codec (default %(default)s: SVT-AV1, LeRobot's default; h264 plays everywhere)")
    args = parser.parse_args(argv)
    try:
        info = export(args.episodes, args.out, args.fps, args.image_topic, args.state_topic, args.action_topics,
                      args.robot_type, video_codec=args.vcodec)
    except (ExportError, EpisodeError, FileExistsError) as error:
        print(f"export: {one_line(str(error))}", file=sys.stderr)
        return 2
    print(f"{args.out}: {info['total_episodes']} episodes, {info['total_frames']} frames at {info['fps']} fps, "
          f"state {len(info['features']['observation.state']['names'])}, "
          f"action {len(info['features']['action']['names'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
