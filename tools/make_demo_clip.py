"""Cut the demo's default footage out of Pose2Sim's single-person demo (BSD-3-Clause, PyPI wheel pose2sim).

The source (Pose2Sim/Demo_SinglePerson/videos/cam02.mp4: 1080x1920 portrait, 60 fps, 100 frames) shows
a man facing the camera swinging both arms over his head and across his body, hands open and
closing (his face is blurred in the source).  The clip keeps the square around him, scaled to
720x720, at 30 fps (half speed: the robot's joint speed limits keep up), played forward and back
twice so the arms sweep four times (~13 s).

    python tools/make_demo_clip.py SOURCE.mp4 OUT.mp4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from teleop_session.video_encoder import VideoEncoder  # noqa: E402

SOURCE_SIZE = (1080, 1920)
SOURCE_FRAMES = 100
CROP = (100, 150, 900, 900)      # x, y, width, height: the man, arms overhead and out
SIZE = 720
FPS = 30.0
SWEEPS = 2                       # forward and back, this many times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    capture = cv2.VideoCapture(str(args.source))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if size != SOURCE_SIZE:
        print(f"{args.source}: {size[0]}x{size[1]}, expected {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]}", file=sys.stderr)
        return 2
    x, y, width, height = CROP
    frames = []
    while len(frames) < SOURCE_FRAMES:
        ok, frame = capture.read()
        if not ok:
            print(f"{args.source}: ends after {len(frames)} frames, expected {SOURCE_FRAMES}", file=sys.stderr)
            return 2
        frames.append(cv2.resize(frame[y:y + height, x:x + width], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    sweep = frames + frames[-2:0:-1]
    partial = args.out.with_name(args.out.stem + ".partial.mp4")
    video = VideoEncoder(partial, FPS)
    for frame in sweep * SWEEPS + frames[:1]:
        video.write(frame)
    video.close()
    partial.replace(args.out)
    print(f"demo clip: {video.frames} frames {SIZE}x{SIZE} at {FPS:g} fps -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
