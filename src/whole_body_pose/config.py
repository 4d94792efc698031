"""Configuration of the whole-body pose estimator and its node (what config/whole_body_pose.yaml holds).

Every field is validated by teleop_common.config: a bad value fails at start-up naming the key
and what it accepts.  Flattened (dotted) names are the ROS parameter names.  (No postponed
annotations here: teleop_common.node_support reads nested dataclass types from `field.type`.)
"""
import dataclasses
from dataclasses import dataclass, field

from teleop_common.config import ConfigError, Validated, bounded, choice
from teleop_common.frame_slot import FRAME_POLICIES
from whole_body_pose.runtime.base import RuntimeOptions, TensorRTOptions


@dataclass
class OneEuroConfig(Validated):
    """One-Euro filter per keypoint (Casiez et al. 2012).

    Values are filtered in person-relative units (2D pixels divided by the person's crop size,
    3D in metres), so one set of parameters suits near and far people alike.
    """

    enabled: bool = True
    min_cutoff: float = bounded(1.5, 0.001, 100.0)   # Hz: lower = smoother when still
    beta: float = bounded(8.0, 0.0, 1000.0)           # speed coefficient: higher = less lag
    d_cutoff: float = bounded(1.0, 0.001, 100.0)     # Hz: cutoff of the speed estimate


@dataclass
class GapFillConfig(Validated):
    """Hold a part (or a whole person) that was missed, with decaying confidence."""

    max_frames: int = bounded(5, 0, 120)              # frames a missed part is held, then dropped
    confidence_decay: float = bounded(0.7, 0.0, 1.0)  # factor applied to the confidence per missed frame


@dataclass
class TemporalConfig(Validated):
    """Which temporal model smooths each person's metric 3D keypoints and fills missed frames.

    one_euro: the One-Euro filter (`one_euro:` below; part-expert estimator only).  posebert: the
    learned causal models of whole_body_pose.temporal (body limbs and hands; held frames of a gap
    are filled by the model, keeping the held frames' reduced confidence); see README "Temporal model".
    none: raw per-frame estimates.
    """

    model: str = choice("one_euro", "posebert", "none")
    min_confidence: float = bounded(0.0, 0.0, 1.0)  # posebert: body keypoints less confident count as unobserved
                                                    # (0: every finite estimate; the experts always place all limbs)


@dataclass
class DopeConfig(Validated):
    """Which DOPE model runs and how its proposals are merged (estimator: dope).

    `model` is an exported ONNX file (runs on the configured `runtime`: onnxruntime or tensorrt)
    or a training checkpoint (.pt, `runtime: torch`; also the public DOPE checkpoints).
    The defaults are the real-time configuration: small input, 50 proposals.
    """

    model: str = ""                                         # "" = <model_dir>/dope.onnx
    input_width: int = bounded(320, 64, 2048)               # torch runtime; an ONNX file fixes its own size
    input_height: int = bounded(240, 64, 2048)
    num_proposals: int = bounded(50, 1, 2000)               # torch runtime; an ONNX file fixes its own
    body_score: float = bounded(0.5, 0.0, 1.0)              # minimum score of a merged detection per part
    hand_score: float = bounded(0.5, 0.0, 1.0)
    face_score: float = bounded(0.5, 0.0, 1.0)
    merge_iou: float = bounded(0.3, 0.0, 1.0)               # region overlap that merges two proposals
    merge_similarity_3d: float = bounded(0.5, 0.0, 10.0)    # 3D distance / pose radius that merges two proposals
    suppress_iou: float = bounded(0.3, 0.0, 1.0)            # region overlap that drops a weaker proposal


@dataclass
class PlausibilityConfig(Validated):
    """Limits of a plausible body (whole_body_pose/experts/plausibility.py); an arm outside them is published with
    low confidence (never drives a robot arm) and counted.  Measured on real footage: README "Plausibility"."""

    enabled: bool = True
    low_confidence: float = bounded(0.1, 0.0, 1.0)       # confidence cap of an implausible arm's keypoints
    min_shoulder_torso: float = bounded(0.4, 0.0, 10.0)  # shoulder width / torso length (world landmarks)
    max_shoulder_torso: float = bounded(1.2, 0.0, 10.0)
    min_shoulder_head: float = bounded(1.2, 0.0, 20.0)   # shoulder width / ear-to-ear width
    max_shoulder_head: float = bounded(4.0, 0.0, 20.0)
    min_arm_axis: float = bounded(0.4, 0.0, 2.0)         # elbow and wrist closer to the torso axis (/ torso length)...
    max_collapsed_arm: float = bounded(0.7, 0.0, 5.0)    # ...and arm shorter than this (/ torso length): collapsed
    check_swap: bool = True                              # left and right shoulders trading places between frames


_MODEL_RUNTIMES = ("auto", "onnxruntime", "litert", "tensorrt")
# Measured fastest CPU runtime per model (whole_body_pose.models.MODELS key; 2 threads, README benchmark):
# LiteRT runs MediaPipe's own TFLite files on XNNPACK; ONNX Runtime is faster on batches of full hands.
FASTEST_ON_CPU = {"pose_detection": "onnxruntime", "pose_landmark": "litert", "palm_detection": "litert",
                  "hand_landmark": "onnxruntime", "hand_landmark_lite": "litert", "face_landmark": "litert",
                  "face_detection": "onnxruntime"}
MAX_PART_SEARCH_CALLS = 10   # per frame; a full search of every part of a few people (the DOPE teacher)
# Hand landmark model on tracked crops per `hand_tracking_model` value (MODELS keys).
HAND_TRACKING_MODELS = {"lite": "hand_landmark_lite", "full": "hand_landmark"}


@dataclass
class ModelRuntimes(Validated):
    """Runtime per part expert: auto = the measured fastest on CPU when `runtime` is onnxruntime, else `runtime`."""

    pose_detection: str = choice(*_MODEL_RUNTIMES)
    pose_landmark: str = choice(*_MODEL_RUNTIMES)
    palm_detection: str = choice(*_MODEL_RUNTIMES)
    hand_landmark: str = choice(*_MODEL_RUNTIMES)
    face_landmark: str = choice(*_MODEL_RUNTIMES)
    face_detection: str = choice(*_MODEL_RUNTIMES)


EXPERTS = tuple(f.name for f in dataclasses.fields(ModelRuntimes))  # the part experts' names


@dataclass
class PoseNodeConfig(Validated):
    """Top-level configuration of the estimator (and of the ROS node that wraps it)."""

    estimator: str = choice("experts", "dope")          # the network: MediaPipe part experts / one DOPE network
    runtime: str = choice("onnxruntime", "tensorrt", "torch")  # what runs it (torch: DOPE checkpoints only)
    model_dir: str = ""                                # empty = default model cache
    num_threads: int = bounded(2, 1, 64)               # CPU threads of the inference runtime
    fp16: bool = True                                  # half precision where the runtime offers it (TensorRT, torch on CUDA)
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)  # engine settings (runtime: tensorrt)
    model_runtime: ModelRuntimes = field(default_factory=ModelRuntimes)  # per part expert (estimator: experts)
    hand_tracking_model: str = choice(*HAND_TRACKING_MODELS)  # hand landmarks on crops from landmarks (tracked,
                                                       # re-cropped): lite (half the time) | full; a search from a
                                                       # rough crop (body wrist, palm) always runs full
    max_people: int = bounded(4, 1, 16)
    detect_every_n_frames: int = bounded(10, 1, 1000)  # detector cadence while fewer than max_people are tracked
    detector_tiles: int = bounded(2, 1, 4)             # 1 = whole frame; n>1 adds an n x n grid of tiles
    detection_score: float = bounded(0.5, 0.0, 1.0)    # person detector min score
    newcomer_score: float = bounded(0.6, 0.0, 1.0)     # detection score that opens a track
    body_presence: float = bounded(0.5, 0.0, 1.0)      # body landmark model presence threshold
    hand_presence: float = bounded(0.5, 0.0, 1.0)      # hand landmark model presence threshold
    face_presence: float = bounded(0.5, 0.0, 1.0)      # face landmark model presence threshold
    palm_score: float = bounded(0.5, 0.0, 1.0)         # palm detector min score (hand recovery)
    wrist_visibility: float = bounded(0.1, 0.0, 1.0)   # body wrist visibility needed to look for a hand
    enable_hands: bool = True
    enable_face: bool = True
    palm_recovery: bool = True                         # palm detection when a hand crop from the body fails
    hand_only: bool = True                             # whole-frame palm detection (with the person detector):
                                                       # hands with no body are published as hand-only people
    face_only: bool = True                             # whole-frame face detection (with the person detector):
                                                       # close-up faces no body covers are published as face-only people
    face_detection_score: float = bounded(0.5, 0.0, 1.0)  # face detector min score (face-only people)
    reject_phantoms: bool = True                       # drop bodies that are not anatomically consistent
                                                       # (inside a hand, smaller than a hand, no torso)
    refine_passes: int = bounded(1, 0, 3)              # extra hand/face passes on re-cropped regions (untracked parts)
    min_part_px: float = bounded(24.0, 0.0, 1000.0)    # hands/faces whose crop would be smaller are not looked for
    part_retry_frames: int = bounded(5, 1, 1000)       # a hand/face not found is searched again after this many
                                                       # frames (at once if the body moves)
    part_search_calls: int = bounded(1, 1, MAX_PART_SEARCH_CALLS)  # model calls per frame for hand/face search
                                                       # beyond the tracked round; the rest continues next frame
    overlap_parts: bool = True                         # a second thread: tracked hands/faces while the body model
                                                       # runs; periodic detection and lost hands' palm searches
                                                       # beside the frame (applied the next frame)
    face_every_n_frames: int = bounded(1, 1, 10)       # face mesh cadence; between runs the face is held
                                                       # (consumers that ignore the face: > 1 saves its cost)
    default_fov_deg: float = bounded(60.0, 10, 170)    # horizontal field of view when no CameraInfo
    plausibility: PlausibilityConfig = field(default_factory=PlausibilityConfig)  # collapsed bodies never drive arms
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    one_euro: OneEuroConfig = field(default_factory=OneEuroConfig)
    gap_fill: GapFillConfig = field(default_factory=GapFillConfig)
    dope: DopeConfig = field(default_factory=DopeConfig)  # used when estimator is dope
    frame_policy: str = choice(*FRAME_POLICIES)        # which frame the estimator takes when it falls behind the
                                                       # camera: fresh (latency first: one that waited over half a
                                                       # frame interval is skipped for the next) | newest (throughput)
    publish_markers: bool = True
    publish_annotated_image: bool = False

    def check(self) -> None:
        if self.runtime == "torch" and self.estimator != "dope":
            raise ConfigError("runtime", self.runtime, "onnxruntime | tensorrt (torch runs DOPE checkpoints only)")

    def hand_tracking(self) -> str:
        """The model (a whole_body_pose.models.MODELS key) of the hand landmarks on tracked crops."""
        return HAND_TRACKING_MODELS[self.hand_tracking_model]

    def runtime_for(self, expert: str, model: str | None = None) -> str:
        """The runtime of part expert `expert` (a ModelRuntimes field) running `model` (a MODELS key;
        default: the expert's own model)."""
        chosen = getattr(self.model_runtime, expert)
        if chosen != "auto":
            return chosen
        return FASTEST_ON_CPU[model or expert] if self.runtime == "onnxruntime" else self.runtime

    def temporal_runtime(self) -> str:
        """The runtime of the temporal models: the node's, but ONNX Runtime when it is torch (a DOPE
        checkpoint; the temporal models ship as ONNX only)."""
        return "onnxruntime" if self.runtime == "torch" else self.runtime

    def runtime_options(self) -> RuntimeOptions:
        """What the inference runtime is opened with."""
        return RuntimeOptions(threads=self.num_threads, fp16=self.fp16, **dataclasses.asdict(self.tensorrt))
