"""DOPE's three detected parts and their keypoints, as indices into teleop_common.layout.

The network detects bodies, hands (left and right share one detector: the first half of the hand
anchor classes are right hands, the second half their mirror images, as in the public models) and
faces.  Each part regresses a set of joints; `PartJoints.layout` maps every network joint to a
keypoint local to a layout part (-1 where the layout has no equivalent, e.g. the head-top joint of
the public 13-joint body).  Our own models regress all 33 body and 21 hand keypoints and the 88
face-mesh landmarks that the layout's face outline draws (silhouette, eyes, lips), so DOPE faces
draw with the same skeleton as the experts'.
"""
from __future__ import annotations

from dataclasses import dataclass

from teleop_common.layout import (BODY, BODY_NAMES, FACE_ANCHOR, FACE_EDGES, HAND, HAND_NAMES, HAND_ROOT_ON_BODY, TORSO,
                                   Part)

PART_NAMES: tuple[str, ...] = ("body", "hand", "face")


@dataclass(frozen=True)
class PartJoints:
    """The joints one DOPE part regresses and how they map onto the layout."""

    name: str
    layout: tuple[int, ...]         # per network joint: index within the layout part, -1 if none
    centre: tuple[int, ...]         # network joints whose mean is the origin of the part's 3D pose
    attach: tuple[tuple[str, int], ...] = ()   # named joints the pose module connects

    @property
    def num_joints(self) -> int:
        return len(self.layout)

    def joint(self, name: str) -> int:
        return dict(self.attach)[name]

    def to_meta(self) -> dict:
        return {"name": self.name, "layout": list(self.layout), "centre": list(self.centre),
                "attach": [[k, v] for k, v in self.attach]}

    @staticmethod
    def from_meta(meta: dict) -> "PartJoints":
        return PartJoints(str(meta["name"]), tuple(int(i) for i in meta["layout"]),
                          tuple(int(i) for i in meta["centre"]),
                          tuple((str(k), int(v)) for k, v in meta["attach"]))


FACE_SUBSET: tuple[int, ...] = tuple(sorted({i for edge in FACE_EDGES for i in edge}))

OURS: dict[str, PartJoints] = {
    "body": PartJoints(
        "body", tuple(range(len(BODY_NAMES))),
        centre=TORSO, attach=(("left_wrist", HAND_ROOT_ON_BODY[Part.LEFT_HAND]),
                              ("right_wrist", HAND_ROOT_ON_BODY[Part.RIGHT_HAND]), ("head", FACE_ANCHOR))),
    "hand": PartJoints("hand", tuple(range(len(HAND_NAMES))), centre=(HAND["wrist"],), attach=(("root", HAND["wrist"]),)),
    "face": PartJoints("face", FACE_SUBSET, centre=tuple(range(len(FACE_SUBSET)))),
}

# The public DOPE models: LCR-Net's 13 body joints (head top has no layout keypoint), 21 hand joints
# in the same order as ours, 84 face landmarks of a different face model (not in the layout).
_LCR_BODY = ("right_ankle", "left_ankle", "right_knee", "left_knee", "right_hip", "left_hip", "right_wrist",
             "left_wrist", "right_elbow", "left_elbow", "right_shoulder", "left_shoulder", None)
PUBLIC: dict[str, PartJoints] = {
    "body": PartJoints("body", tuple(-1 if n is None else BODY[n] for n in _LCR_BODY), centre=(4, 5),
                       attach=(("left_wrist", 7), ("right_wrist", 6), ("head", 12))),
    "hand": OURS["hand"],
    "face": PartJoints("face", (-1,) * 84, centre=tuple(range(84))),
}
