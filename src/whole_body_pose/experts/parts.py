"""Hands and faces of all tracked people, batched.

Each part starts from the crop its own last landmarks define (tracking) when that crop still
covers the body's wrist/nose, else from a crop derived from the body landmarks.  All crops of a
round go through the landmark model in one batch; then, in further batched rounds:
  - a tracked crop (or a palm crop found the frame before) that lost its part falls back to the
    body-derived crop;
  - a body-derived hand crop that finds no hand (the body model misplaced it) searches a larger
    region around the wrist with the palm detector and crops the palm found nearest the wrist (with
    a parts thread, that search runs there and its crop is tried the next frame: background.py);
  - an untracked part is re-cropped from its own landmarks (`refine_passes` times), the crop the
    landmark model was trained on, which removes most of the first crop's error.
A SearchBudget bounds the model calls of these further rounds per frame (a lost hand costs up to
five calls): the search goes on in the next frame where it stopped (a palm crop found is tried
first then; a search not started is not counted as a miss), and a refinement left out is what the
next frame's tracked crop does anyway.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from teleop_common.layout import FACE_ANCHOR, HAND_ON_BODY, Part
from whole_body_pose.experts import roi
from whole_body_pose.experts.background import BackgroundDetector
from whole_body_pose.experts.hand_identity import same_hand
from whole_body_pose.experts.networks import (FaceLandmarker, HandLandmarker, HandResult, ImageDetections,
                                              join_rows, select_rows)
from whole_body_pose.experts.tracks import PartTrack, Track

WRIST_TOLERANCE = 0.5      # hand wrist may sit this fraction of the body-derived crop side from the body wrist
PALM_SEARCH_SCALE = 2.5    # palm search region side, in body-derived hand crops
PALM_SEARCH_MIN = 0.3      # ... and at least this fraction of the body crop side
FACE_TRACK_MARGIN = -0.2   # the nose must lie in the inner 80 % of the tracked face crop
HAND_TRACK_MARGIN = 0.5    # the body wrist must lie in the tracked hand crop grown by 50 %
SEARCH_MOVED = 0.25        # a missed part is searched again at once if its body-derived crop moved this much...
SEARCH_VISIBLE = 0.5       # ...and the body sees its anchor (invisible anchors jitter without moving)
MAX_BACKOFF = 3            # retry waits double after each miss, up to 2**3 times the retry interval

Key = tuple[int, Part]  # (index of the track in the frame's list, part)
PALM_SEARCH = "palm_search"  # the background run of a palm search (background.py)
FROM_LANDMARKS = ("tracked", "refine")  # request kinds whose crop comes from hand landmarks


class SearchBudget:
    """Model calls the part search may still make this frame beyond each stage's first round
    (None: unbounded); shared by the hand and face stages of one frame."""

    def __init__(self, calls: int | None) -> None:
        self.calls = calls

    def take(self) -> bool:
        if self.calls is None:
            return True
        if self.calls <= 0:
            return False
        self.calls -= 1
        return True


@dataclass
class HandObs:
    presence: float
    pixels: np.ndarray  # (21, 2)
    world: np.ndarray   # (21, 3)
    roi: np.ndarray     # crop for the next frame, from these landmarks


@dataclass
class FaceObs:
    presence: float
    pixels: np.ndarray  # (468, 2)
    depth: np.ndarray   # (468,)
    roi: np.ndarray


@dataclass
class _Request:
    key: Key
    roi: np.ndarray
    kind: str     # "tracked" | "body" | "palm" (found this frame) | "pending" (palm found before) | "refine"
    passes: int   # refinement passes still allowed
    search: np.ndarray | None = None  # palm search region this request came from (looser wrist check)


def _rounds(run: Callable[[list[_Request]], object], requests: list[_Request],
            accept: Callable[[_Request, object, int], bool],
            observe: Callable[[object, int], object],
            fallback: Callable[[list[_Request]], list[_Request]],
            budget: SearchBudget) -> tuple[dict[Key, object], list[_Request]]:
    """Batched rounds of one landmark model until no request is left or the budget is spent; the
    accepted observations and the searches left for the next frame (refinements are dropped)."""
    accepted: dict[Key, object] = {}
    first = True
    while requests:
        if not first and not budget.take():
            left = [r for r in requests if r.kind != "refine"]
            return accepted, left
        first = False
        result = run(requests)
        follow: list[_Request] = []
        failed: list[_Request] = []
        for i, request in enumerate(requests):
            if accept(request, result, i):
                obs = observe(result, i)
                accepted[request.key] = obs
                if request.passes > 0:  # tracked requests carry no passes
                    follow.append(_Request(request.key, obs.roi, "refine", request.passes - 1, request.search))
            elif request.kind != "refine":  # a failed refinement keeps the previous round's answer
                failed.append(request)
        requests = follow + fallback(failed)
    return accepted, []


class HandStage:
    def __init__(self, landmarker: HandLandmarker, tracker: HandLandmarker, palm: BackgroundDetector | None,
                 presence: float, palm_score: float, wrist_visibility: float, refine_passes: int, min_side: float,
                 retry_interval: int) -> None:
        self.landmarker = landmarker  # searches from rough crops (a body wrist, a palm)
        self.tracker = tracker        # crops from landmarks (tracked, re-cropped): may be a lighter model
        self.palm = palm              # palm searches run in the background when it has a pool (background.py)
        # The running background palm search: per lost hand, its part track, wrist, body-derived crop, region.
        self._palm_search: list[tuple[PartTrack, np.ndarray, np.ndarray, np.ndarray]] | None = None
        self.presence = presence
        self.palm_score = palm_score
        self.wrist_visibility = wrist_visibility
        self.refine_passes = refine_passes
        self.min_side = min_side              # smaller body-derived crops hold too few pixels for a hand
        self.retry_interval = retry_interval  # see _searchable

    def __call__(self, image: np.ndarray, tracks: list[Track], budget: SearchBudget | None = None) -> dict[Key, HandObs]:
        budget = budget or SearchBudget(None)
        self._collect_palm_search()
        body_rois: dict[Key, np.ndarray] = {}
        requests: list[_Request] = []
        for ti, track in enumerate(tracks):
            for part, (wi, ii, pi) in HAND_ON_BODY.items():
                px = track.body.pixels
                state = track.parts[part]
                key = (ti, part)
                body_rois[key] = roi.hand_from_body(px[None, wi], px[None, ii], px[None, pi])[0]
                if (track.body.visibility[wi] < self.wrist_visibility or body_rois[key][roi.W] < self.min_side
                        or not _inside(body_rois[key], image)):
                    continue
                pending = state.take_palm()
                if state.roi is not None and roi.contains(state.roi[None], px[None, wi], HAND_TRACK_MARGIN)[0]:
                    requests.append(_Request(key, state.roi, "tracked", 0))
                elif pending is not None:        # a palm crop the last frame's search found but did not try
                    requests.append(_Request(key, pending[0], "pending", self.refine_passes, pending[1]))
                elif _searchable(state, body_rois[key], track.body.visibility[wi]):
                    requests.append(_Request(key, body_rois[key], "body", self.refine_passes))

        def accept(request: _Request, result, i: int) -> bool:
            if result.presence[i] < self.presence:
                return False
            ti, part = request.key
            wrist = tracks[ti].body.pixels[HAND_ON_BODY[part][0]]
            if request.search is None:
                limit = WRIST_TOLERANCE * body_rois[request.key][roi.W]
            else:
                limit = 0.5 * request.search[roi.W]
            return float(np.linalg.norm(result.pixels[i, 0] - wrist)) < limit

        def observe(result, i: int) -> HandObs:
            pixels = result.pixels[i]
            return HandObs(float(result.presence[i]), pixels, result.world[i], roi.hand_from_landmarks(pixels[None])[0])

        unsearched: list[_Request] = []   # lost hands whose palm search waits for the next frame

        def fallback(failed: list[_Request]) -> list[_Request]:
            retry = [_Request(r.key, body_rois[r.key], "body", self.refine_passes)
                     for r in failed if r.kind in ("tracked", "pending")]  # crops from an earlier frame
            lost = [r for r in failed if r.kind == "body"  # palms only where the body sees the wrist
                    and tracks[r.key[0]].body.visibility[HAND_ON_BODY[r.key[1]][0]] >= SEARCH_VISIBLE]
            if not (self.palm and lost):
                return retry
            if self.palm.background:  # the frame goes on; the palm crops are tried next frame
                if self._palm_search is None:  # one search per frame (a later round's: next frame)
                    self._start_palm_search(image, tracks, lost, body_rois)
                unsearched.extend(lost)
                return retry
            if not budget.take():
                unsearched.extend(lost)
                return retry
            return retry + self._palm_requests(image, tracks, lost, body_rois)

        hands, left = _rounds(lambda batch: self._landmarks(image, batch), requests, accept, observe, fallback, budget)
        for request in left:
            if request.kind == "palm":
                tracks[request.key[0]].parts[request.key[1]].palm_found(request.roi, request.search)
        _resolve_same_hand(hands, tracks)
        searching = {r.key for r in left + unsearched}
        _remember_failures(tracks, [r for r in requests if r.key not in searching], hands, body_rois,
                           self.retry_interval)
        return hands

    def _landmarks(self, image: np.ndarray, requests: list[_Request]) -> HandResult:
        """One batch of requests: crops from landmarks on the tracker, rough crops on the search model."""
        rois = _rois(requests)
        tight = np.array([r.kind in FROM_LANDMARKS for r in requests])
        if self.tracker is self.landmarker or not tight.any():
            return self.landmarker(image, rois)
        if tight.all():
            return self.tracker(image, rois)
        order = np.empty(len(requests), np.int64)     # tight rows first in the joined result, then the others
        order[tight] = np.arange(int(tight.sum()))
        order[~tight] = int(tight.sum()) + np.arange(int((~tight).sum()))
        return select_rows(join_rows(self.tracker(image, rois[tight]), self.landmarker(image, rois[~tight])), order)

    def _palm_requests(self, image: np.ndarray, tracks: list[Track], lost: list[_Request],
                       body_rois: dict[Key, np.ndarray]) -> list[_Request]:
        """Palm detection around each lost hand (now, in this frame): requests for the palms found."""
        regions = _palm_regions(tracks, lost, body_rois)
        crops = _nearest_palms(self.palm(image, regions, self.palm_score), _wrists(tracks, lost))
        return [_Request(r.key, crop, "palm", self.refine_passes, regions[i])
                for i, (r, crop) in enumerate(zip(lost, crops)) if crop is not None]

    def _start_palm_search(self, image: np.ndarray, tracks: list[Track], lost: list[_Request],
                           body_rois: dict[Key, np.ndarray]) -> None:
        """The same palm detection on the parts thread; its crops wait in the part tracks (_collect)."""
        regions = _palm_regions(tracks, lost, body_rois)
        self.palm.start(PALM_SEARCH, image, regions, self.palm_score)
        self._palm_search = [(tracks[r.key[0]].parts[r.key[1]], wrist, body_rois[r.key], region)
                             for r, wrist, region in zip(lost, _wrists(tracks, lost), regions)]

    def _collect_palm_search(self) -> None:
        """A finished background palm search: each palm found becomes its hand's next crop to try; a
        hand with no palm near its wrist waits before its next search, as after any failed search."""
        if self._palm_search is None or (found := self.palm.take(PALM_SEARCH)) is None:
            return
        wrists = np.array([wrist for _, wrist, _, _ in self._palm_search])
        for (part, _, body_crop, region), crop in zip(self._palm_search, _nearest_palms(found, wrists)):
            if crop is not None:
                part.palm_found(crop, region)
            else:
                part.searched(False, body_crop, self.retry_interval, MAX_BACKOFF)
        self._palm_search = None


def _palm_regions(tracks: list[Track], lost: list[_Request], body_rois: dict[Key, np.ndarray]) -> np.ndarray:
    """A square around each lost hand's body-derived crop, where its palm is searched."""
    regions = []
    for r in lost:
        side = max(PALM_SEARCH_SCALE * body_rois[r.key][roi.W], PALM_SEARCH_MIN * tracks[r.key[0]].roi[roi.W])
        regions.append([*body_rois[r.key][:2], side, side, 0.0])
    return np.array(regions)


def _wrists(tracks: list[Track], lost: list[_Request]) -> np.ndarray:
    return np.array([tracks[r.key[0]].body.pixels[HAND_ON_BODY[r.key[1]][0]] for r in lost])


def _nearest_palms(found: ImageDetections, wrists: np.ndarray) -> list[np.ndarray | None]:
    """Per search region i: the hand crop of its palm nearest to `wrists[i]` (None: no palm there)."""
    crops: list[np.ndarray | None] = []
    for i, wrist in enumerate(wrists):
        mine = np.flatnonzero(found.source == i)
        crops.append(found.hand_crops[mine[np.argmin(np.linalg.norm(found.keypoints[mine, 0] - wrist, axis=1))]]
                     if mine.size else None)
    return crops


def _rois(requests: list[_Request]) -> np.ndarray:
    return np.stack([r.roi for r in requests])


def _inside(crop: np.ndarray, image: np.ndarray) -> bool:
    """Whether a crop's centre lies in the image (a part predicted off-image cannot be found)."""
    return 0.0 <= crop[roi.CX] < image.shape[1] and 0.0 <= crop[roi.CY] < image.shape[0]


def _searchable(state: PartTrack, body_roi: np.ndarray, anchor_visibility: float) -> bool:
    """Search a part that was not found recently only after a wait (`retry_interval` frames, doubled
    after each further miss up to 8x), or sooner when the body moved: a hand out of view or behind
    the back costs a crop now and then, not one per frame."""
    if state.failed is None:
        return True
    waited = state.tick_wait() <= 0
    moved = (np.linalg.norm(body_roi[:2] - state.failed[:2]) > SEARCH_MOVED * state.failed[roi.W]
             or abs(body_roi[roi.W] / state.failed[roi.W] - 1.0) > SEARCH_MOVED)
    return waited or (moved and anchor_visibility >= SEARCH_VISIBLE)


def _remember_failures(tracks: list[Track], requests: list[_Request], found: dict, body_rois: dict[Key, np.ndarray],
                       retry_interval: int) -> None:
    for request in requests:
        tracks[request.key[0]].parts[request.key[1]].searched(request.key in found, body_rois[request.key],
                                                               retry_interval, MAX_BACKOFF)


def _resolve_same_hand(hands: dict[Key, HandObs], tracks: list[Track]) -> None:
    """If both of a person's hand crops landed on the same hand, keep the side whose body wrist is closer."""
    for ti, track in enumerate(tracks):
        left, right = hands.get((ti, Part.LEFT_HAND)), hands.get((ti, Part.RIGHT_HAND))
        if left is None or right is None:
            continue
        if not same_hand(right.pixels, left.pixels):
            continue
        d = {part: np.linalg.norm(obs.pixels[0] - track.body.pixels[HAND_ON_BODY[part][0]])
             for part, obs in ((Part.LEFT_HAND, left), (Part.RIGHT_HAND, right))}
        del hands[(ti, max(d, key=d.get))]


class FaceStage:
    def __init__(self, landmarker: FaceLandmarker, presence: float, refine_passes: int, min_side: float,
                 retry_interval: int) -> None:
        self.landmarker = landmarker
        self.presence = presence
        self.refine_passes = refine_passes
        self.min_side = min_side
        self.retry_interval = retry_interval

    def __call__(self, image: np.ndarray, tracks: list[Track], budget: SearchBudget | None = None) -> dict[Key, FaceObs]:
        body_rois: dict[Key, np.ndarray] = {}
        requests: list[_Request] = []
        for ti, track in enumerate(tracks):
            key = (ti, Part.FACE)
            px = track.body.pixels
            body_rois[key] = roi.face_from_body(px[None, :11])[0]
            if body_rois[key][roi.W] < self.min_side or not _inside(body_rois[key], image):
                continue
            state = track.parts[Part.FACE]
            if state.roi is not None and roi.contains(state.roi[None], px[None, FACE_ANCHOR], FACE_TRACK_MARGIN)[0]:
                requests.append(_Request(key, state.roi, "tracked", 0))
            elif _searchable(state, body_rois[key], track.body.visibility[FACE_ANCHOR]):
                requests.append(_Request(key, body_rois[key], "body", self.refine_passes))

        def accept(request: _Request, result, i: int) -> bool:
            return result.presence[i] >= self.presence

        def observe(result, i: int) -> FaceObs:
            pixels = result.pixels[i]
            return FaceObs(float(result.presence[i]), pixels, result.depth[i], roi.face_from_landmarks(pixels[None])[0])

        def fallback(failed: list[_Request]) -> list[_Request]:
            return [_Request(r.key, body_rois[r.key], "body", self.refine_passes)
                    for r in failed if r.kind == "tracked"]

        faces, left = _rounds(lambda batch: self.landmarker(image, _rois(batch)), requests, accept, observe, fallback,
                              budget or SearchBudget(None))
        searching = {r.key for r in left}
        _remember_failures(tracks, [r for r in requests if r.key not in searching], faces, body_rois,
                           self.retry_interval)
        return faces
