"""How closely DOPE reproduces its teachers: mean 2D distance to the experts' poses.

For every expert instance, the DOPE detection of the same part whose box overlaps it (IoU of at
least 0.1) with the best score is compared on the joints the expert is confident about; if no
detection overlaps, the best-scoring detection of that part is used.  Run with a minimum score of
0 this is defined for any network, trained or not, so the two can be compared.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from whole_body_pose.boxes import box_iou
from whole_body_pose.dope.merge import Detection
from whole_body_pose.dope.pseudo_gt import BOX_MIN_CONF, PseudoGT

MATCH_IOU = 0.1


def instance_errors(found: dict[str, list[Detection]], gt: PseudoGT, frame: int) -> list[tuple[str, float]]:
    """(part, mean pixel error) for each expert instance of `frame`; parts DOPE never detected are skipped."""
    errors = []
    for part, inst in gt.parts.items():
        candidates = found.get(part, [])
        if not candidates:
            continue
        boxes = np.array([d.box for d in candidates])
        scores = np.array([d.score for d in candidates])
        for i in np.flatnonzero(inst.frame == frame):
            overlaps = box_iou(inst.box[i][None], boxes)[0] >= MATCH_IOU
            pick = int(np.argmax(np.where(overlaps, scores, -1.0))) if overlaps.any() else int(np.argmax(scores))
            use = inst.conf[i] >= BOX_MIN_CONF
            if use.any():
                error = np.linalg.norm(candidates[pick].pose2d[use] - inst.pose2d[i][use], axis=-1).mean()
                errors.append((part, float(error)))
    return errors


def summary(errors: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Mean error overall and per part, in pixels."""
    errors = list(errors)
    result = {"mean_px": float(np.mean([e for _, e in errors])) if errors else float("nan")}
    for part in sorted({p for p, _ in errors}):
        result[f"{part}_px"] = float(np.mean([e for p, e in errors if p == part]))
    return result


def constant_pose_error(reference: PseudoGT, evaluated: PseudoGT) -> float:
    """Mean error on `evaluated` of the best answer that ignores the image: each part's mean pose
    over `reference` (joints averaged where the expert was confident).  A network that reads the
    image has to beat it."""
    errors = []
    for part, inst in evaluated.parts.items():
        source = reference.parts[part]
        if len(source) == 0:
            continue
        use = source.conf >= BOX_MIN_CONF
        mean = (source.pose2d * use[..., None]).sum(0) / np.maximum(use.sum(0), 1)[:, None]
        for pose, conf in zip(inst.pose2d, inst.conf):
            seen = conf >= BOX_MIN_CONF
            if seen.any():
                errors.append(float(np.linalg.norm(mean[seen] - pose[seen], axis=-1).mean()))
    return float(np.mean(errors)) if errors else float("nan")
