"""Whole-body keypoint layout: the one place that names and orders every keypoint.

Every message, marker, filter, retargeting rule and network head indexes keypoints through
this module, so a layout change is made here once.  The layout follows the part experts we
ship (MediaPipe BlazePose body, hand and face-mesh models): body 33, each hand 21, face 468.
A person's keypoint vector is the concatenation body | left hand | right hand | face.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

LAYOUT_NAME = "wholebody_543_v1"

BODY_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

HAND_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)

FACE_SIZE = 468
FACE_NAMES: tuple[str, ...] = tuple(f"face_{i:03d}" for i in range(FACE_SIZE))


class Part(enum.IntEnum):
    """Body parts, in the order their keypoints are concatenated."""

    BODY = 0
    LEFT_HAND = 1
    RIGHT_HAND = 2
    FACE = 3


@dataclass(frozen=True)
class PartLayout:
    part: Part
    names: tuple[str, ...]
    start: int

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.size)


def _build_parts() -> dict[Part, PartLayout]:
    parts: dict[Part, PartLayout] = {}
    start = 0
    for part, names in ((Part.BODY, BODY_NAMES), (Part.LEFT_HAND, HAND_NAMES),
                        (Part.RIGHT_HAND, HAND_NAMES), (Part.FACE, FACE_NAMES)):
        parts[part] = PartLayout(part, names, start)
        start += len(names)
    return parts


PARTS: dict[Part, PartLayout] = _build_parts()
NUM_KEYPOINTS: int = sum(p.size for p in PARTS.values())

BODY = {name: i for i, name in enumerate(BODY_NAMES)}
HAND = {name: i for i, name in enumerate(HAND_NAMES)}


def index(part: Part, name: str) -> int:
    """Global index of a named keypoint of a part, e.g. index(Part.RIGHT_HAND, "index_tip")."""
    return PARTS[part].start + PARTS[part].names.index(name)


# Keypoint groups the estimators, the tracker and the retargeter share (tuples: index arrays with
# np.asarray / list(), never a bare tuple as one index).
SHOULDERS: tuple[int, int] = (BODY["left_shoulder"], BODY["right_shoulder"])
HIPS: tuple[int, int] = (BODY["left_hip"], BODY["right_hip"])
TORSO: tuple[int, ...] = SHOULDERS + HIPS            # shoulders, then hips
FACE_ANCHOR: int = BODY["nose"]                       # the body keypoint a face attaches to
# The body keypoints of each hand (wrist, index, pinky): where the hand is, seen from the body.
HAND_ON_BODY: dict[Part, tuple[int, int, int]] = {
    Part.LEFT_HAND: (BODY["left_wrist"], BODY["left_index"], BODY["left_pinky"]),
    Part.RIGHT_HAND: (BODY["right_wrist"], BODY["right_index"], BODY["right_pinky"]),
}
# Which body-side wrist each hand joins to (DOPE's pose module: body wrists <-> hand roots).
HAND_ROOT_ON_BODY: dict[Part, int] = {part: points[0] for part, points in HAND_ON_BODY.items()}
# The body keypoint each attached part hangs from (its depth places the part in 3D).
PART_ANCHOR: dict[Part, int] = {**HAND_ROOT_ON_BODY, Part.FACE: FACE_ANCHOR}
# Global indices of the hands' own wrists (hand-only people have no torso).
HAND_WRISTS: tuple[int, int] = (index(Part.LEFT_HAND, "wrist"), index(Part.RIGHT_HAND, "wrist"))


def _edges(pairs: tuple[tuple[str, str], ...], names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    lookup = {n: i for i, n in enumerate(names)}
    return tuple((lookup[a], lookup[b]) for a, b in pairs)


BODY_EDGES = _edges((
    ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
    ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
    ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"), ("mouth_left", "mouth_right"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_wrist", "left_pinky"), ("left_wrist", "left_index"), ("left_wrist", "left_thumb"),
    ("left_pinky", "left_index"), ("right_wrist", "right_pinky"), ("right_wrist", "right_index"),
    ("right_wrist", "right_thumb"), ("right_pinky", "right_index"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"), ("left_ankle", "left_foot_index"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"), ("right_ankle", "right_foot_index"),
), BODY_NAMES)

HAND_EDGES = _edges((
    ("wrist", "thumb_cmc"), ("thumb_cmc", "thumb_mcp"), ("thumb_mcp", "thumb_ip"), ("thumb_ip", "thumb_tip"),
    ("wrist", "index_mcp"), ("index_mcp", "index_pip"), ("index_pip", "index_dip"), ("index_dip", "index_tip"),
    ("index_mcp", "middle_mcp"), ("middle_mcp", "middle_pip"), ("middle_pip", "middle_dip"),
    ("middle_dip", "middle_tip"), ("middle_mcp", "ring_mcp"), ("ring_mcp", "ring_pip"),
    ("ring_pip", "ring_dip"), ("ring_dip", "ring_tip"), ("ring_mcp", "pinky_mcp"), ("wrist", "pinky_mcp"),
    ("pinky_mcp", "pinky_pip"), ("pinky_pip", "pinky_dip"), ("pinky_dip", "pinky_tip"),
), HAND_NAMES)

# Face-mesh outline (silhouette, eyes, lips) as landmark index chains of the 468-point mesh.
_FACE_CHAINS: tuple[tuple[int, ...], ...] = (
    (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
     148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109, 10),
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246, 33),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466, 263),
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185, 61),
)
FACE_EDGES: tuple[tuple[int, int], ...] = tuple(
    (chain[i], chain[i + 1]) for chain in _FACE_CHAINS for i in range(len(chain) - 1)
)

PART_EDGES: dict[Part, tuple[tuple[int, int], ...]] = {
    Part.BODY: BODY_EDGES, Part.LEFT_HAND: HAND_EDGES, Part.RIGHT_HAND: HAND_EDGES, Part.FACE: FACE_EDGES,
}


def skeleton_edges() -> tuple[tuple[int, int], ...]:
    """All edges in global keypoint indices, plus DOPE's pose-module joins (wrist to hand root)."""
    edges = [(a + PARTS[p].start, b + PARTS[p].start) for p, local in PART_EDGES.items() for a, b in local]
    edges.extend((root, index(part, "wrist")) for part, root in HAND_ROOT_ON_BODY.items())
    return tuple(edges)


SKELETON_EDGES = skeleton_edges()
