"""DOPE building blocks: RoIAlign, anchors, merging, pose module, checkpoints and the public loader."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from teleop_common.config import ConfigError, from_mapping
from whole_body_pose.dope import checkpoint
from whole_body_pose.config import DopeConfig
from whole_body_pose.dope.anchors import class_targets, fit_anchor_poses, kmeans, mirror
from whole_body_pose.dope.merge import Detection, MergeSettings, merge_part
from whole_body_pose.dope.network import OUTPUT_NAMES, DopeNet, NetSpec
from whole_body_pose.dope.official import load_public
from whole_body_pose.dope.parts import OURS, PUBLIC
from whole_body_pose.dope.pose_module import assemble
from whole_body_pose.dope.roi_align import roi_align

torch.set_num_threads(2)
PUBLIC_RPN_SIZES = (32, 64, 128, 256, 512)
SMALL = dict(width=8, blocks=(1, 1, 1, 1), rpn_sizes=(16, 32, 64, 128, 256), pre_nms_top_n=100, post_nms_top_n=20)


def _bilinear(feature: np.ndarray, y: float, x: float) -> np.ndarray:
    """Reference RoIAlign sample: zero beyond one cell outside, clamped to the border inside."""
    height, width = feature.shape[1:]
    if y < -1 or y > height or x < -1 or x > width:
        return np.zeros(feature.shape[0])
    y, x = min(max(y, 0), height - 1), min(max(x, 0), width - 1)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[:, y0, x0] + (1 - ly) * lx * feature[:, y0, x1]
            + ly * (1 - lx) * feature[:, y1, x0] + ly * lx * feature[:, y1, x1])


def _reference_roi_align(feature: np.ndarray, box: np.ndarray, scale: float, size: int, ratio: int, aligned: bool) -> np.ndarray:
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = box * scale - offset
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = max(w, 1.0), max(h, 1.0)
    out = np.zeros((feature.shape[0], size, size))
    for py in range(size):
        for px in range(size):
            samples = [_bilinear(feature, y1 + (py + (iy + 0.5) / ratio) * h / size, x1 + (px + (ix + 0.5) / ratio) * w / size)
                       for iy in range(ratio) for ix in range(ratio)]
            out[:, py, px] = np.mean(samples, axis=0)
    return out


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_matches_the_reference_sampling(aligned: bool) -> None:
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.normal(size=(2, 3, 12, 16)).astype(np.float32))
    boxes = torch.tensor([[[10.0, 20.0, 120.0, 150.0], [0.0, 0.0, 255.0, 191.0], [40.0, 40.0, 45.0, 42.0]],
                          [[100.0, 30.0, 200.0, 60.0], [5.5, 7.25, 70.0, 90.5], [-60.0, -40.0, 300.0, 230.0]]])
    pooled = roi_align(features, boxes, 1 / 16, output_size=7, sampling_ratio=2, aligned=aligned).numpy()
    for b in range(2):
        for r in range(3):
            expected = _reference_roi_align(features[b].numpy(), boxes[b, r].numpy(), 1 / 16, 7, 2, aligned)
            np.testing.assert_allclose(pooled[b * 3 + r], expected, atol=1e-5)


def test_kmeans_anchors_and_targets() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 21, 3)) * 0.05
    pose3d = np.concatenate([c + rng.normal(size=(10, 21, 3)) * 0.002 for c in centres]).astype(np.float32)
    pose2d = rng.uniform(10, 50, size=(30, 21, 2)).astype(np.float32)
    boxes = np.tile(np.array([5, 5, 60, 60], np.float32), (30, 1))
    _, assign = kmeans(pose3d.reshape(30, -1), 3)
    assert len(set(assign[:10])) == len(set(assign[10:20])) == len(set(assign[20:])) == 1 and len(set(assign)) == 3

    right = np.arange(30) % 2 == 0
    anchors = fit_anchor_poses(pose2d, pose3d, boxes, 3, is_right=right)
    assert anchors.shape == (6, 21, 5)
    np.testing.assert_allclose(anchors[3:], mirror(anchors[:3]))            # left classes mirror the right ones
    hard, soft = class_targets(pose3d, anchors, np.full(30, 0.9, np.float32), right)
    assert np.all((hard <= 3) == right)                                      # right hands -> right classes (1..3)
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(soft[:, 0], 0.1, atol=1e-6)                   # background = 1 - expert score
    assert np.all(np.argmax(soft[:, 1:], axis=1) + 1 == hard)


def _detection(part: str, score: float, centre: tuple[float, float], size: float, joints: int, right: bool = False) -> Detection:
    rng = np.random.default_rng(int(score * 1000))
    pose2d = np.asarray(centre, np.float32) + rng.uniform(-size / 2, size / 2, (joints, 2)).astype(np.float32)
    box = np.concatenate([pose2d.min(0), pose2d.max(0)])
    return Detection(part, score, box, pose2d, rng.normal(size=(joints, 3)).astype(np.float32) * 0.1, right)


def test_merge_groups_overlapping_similar_proposals() -> None:
    base = _detection("body", 0.9, (100, 100), 80, 33)
    shifted = base.pose2d + 2.0
    far = base.pose2d + 300.0
    other3d = base.pose3d[::-1].copy()
    scores = np.array([0.9, 0.6, 0.8, 0.7, 0.1], np.float32)
    pose2d = np.stack([base.pose2d, shifted, far, shifted, base.pose2d])
    pose3d = np.stack([base.pose3d, base.pose3d, base.pose3d, other3d, base.pose3d])
    labels = np.zeros(5, np.int32)
    rois = np.concatenate([pose2d.min(1), pose2d.max(1)], axis=1)
    found = merge_part("body", rois, scores, labels, pose2d, pose3d, 4, MergeSettings(min_score=0.3))
    assert [round(d.score, 2) for d in found] == [0.9, 0.8]                  # 3D-different overlapping one outvoted
    np.testing.assert_allclose(found[0].pose2d, (0.9 * base.pose2d + 0.6 * shifted) / 1.5, atol=1e-4)
    np.testing.assert_allclose(found[0].box, (0.9 * rois[0] + 0.6 * rois[1]) / 1.5, atol=1e-4)
    kept = merge_part("body", rois, scores, labels, pose2d, pose3d, 4, MergeSettings(min_score=0.3, suppress_iou=1.0))
    assert [round(d.score, 2) for d in kept] == [0.9, 0.8, 0.7]              # without suppression it stays apart


def test_pose_module_joins_hands_and_face_to_the_right_body() -> None:
    joints = OURS
    bodies = [_detection("body", 0.9, (100, 200), 100, 33), _detection("body", 0.8, (400, 200), 100, 33)]
    hands, faces = [], []
    for body in bodies:
        left, right = body.pose2d[joints["body"].joint("left_wrist")], body.pose2d[joints["body"].joint("right_wrist")]
        for wrist, is_right in ((left, True), (right, False)):           # classifier side deliberately wrong
            hand = _detection("hand", 0.7, tuple(wrist + 8), 20, 21, is_right)
            hand.pose2d[0] = wrist + 3
            hands.append(hand)
        head = body.pose2d[joints["body"].joint("head")]
        faces.append(_detection("face", 0.6, tuple(head), 30, 88))
    lone = _detection("hand", 0.5, (700, 700), 20, 21, True)
    people = assemble({"body": bodies, "hand": hands + [lone], "face": faces}, joints)
    assert len(people) == 3
    for i, person in enumerate(people[:2]):
        assert person.left_hand is not None and not person.left_hand.right
        assert person.right_hand is not None and person.right_hand.right
        np.testing.assert_allclose(person.left_hand.pose2d[0], hands[2 * i].pose2d[0])
        assert person.face is faces[i]
    assert people[2].body is None and people[2].right_hand is lone


def _small_net(joints=None, counts=None, seed: int = 0, **overrides) -> DopeNet:
    torch.manual_seed(seed)
    spec = NetSpec(**{**SMALL, **overrides}, num_anchor_poses=counts or {"body": 3, "hand": 4, "face": 2},
                   joints=joints or dict(OURS))
    net = DopeNet(spec)
    for part in ("body", "hand", "face"):
        anchors = net.roi_heads.anchor_poses(part)
        anchors.copy_(torch.rand_like(anchors))
    return net.eval()


class NotWeights:
    """An arbitrary object: a checkpoint holding one must be refused, not executed."""


def test_checkpoint_round_trip_and_clear_errors(tmp_path) -> None:
    net = _small_net()
    path = tmp_path / "model.pt"
    checkpoint.save(path, net, iteration=3)
    loaded, payload = checkpoint.load(path)
    assert payload["iteration"] == 3 and loaded.spec == net.spec
    image = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        for a, b in zip(net(image), loaded(image)):
            assert torch.equal(a, b)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(truncated)

    foreign = tmp_path / "foreign.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": NotWeights()}, foreign)
    with pytest.raises(checkpoint.CheckpointError, match="tensors and plain data only"):
        checkpoint.load(foreign)

    mismatched = tmp_path / "mismatched.pt"
    other = checkpoint.read(path)
    other["spec"]["num_anchor_poses"]["body"] = 5
    torch.save(other, mismatched)
    with pytest.raises(checkpoint.CheckpointError, match=r"shape mismatch .*body_cls_score"):
        checkpoint.load(mismatched)

    with pytest.raises(checkpoint.CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "absent.pt")


def _public_layout(net: DopeNet) -> dict[str, torch.Tensor]:
    """Our weights under the public checkpoints' names (torchvision Faster R-CNN with frozen BN, FP16)."""
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        value = value.half() if value.is_floating_point() else value
        if key.startswith("backbone."):
            rest = key[len("backbone."):]
            state["backbone.resnet_backbone." + rest] = value
            state["roi_heads.dope_head.resnet_backbone." + rest] = value
        elif key.startswith("roi_heads.dope_head."):
            rest = key[len("roi_heads.dope_head."):]
            state["backbone.resnet_backbone." + rest] = value
            state["roi_heads.dope_head.resnet_backbone." + rest] = value
        elif key.startswith("rpn.head.conv."):
            state[key.replace("rpn.head.conv.", "rpn.head.conv.0.0.")] = value
        else:
            state[key] = value
    fc = {"fc.weight": torch.zeros(10, net.roi_heads.dope_head.out_channels).half(), "fc.bias": torch.zeros(10).half()}
    for prefix in ("backbone.resnet_backbone.", "roi_heads.dope_head.resnet_backbone."):
        state.update({prefix + k: v for k, v in fc.items()})
    return state


def test_public_checkpoint_layout_loads_onto_our_network(tmp_path) -> None:
    counts = {"body": 3, "hand": 4, "face": 2}
    net = _small_net(dict(PUBLIC), counts, seed=3, rpn_sizes=PUBLIC_RPN_SIZES)
    path = tmp_path / "DOPErealtime_like.pth.tgz"
    torch.save({"state_dict": _public_layout(net), "half": True,
                "dope_kwargs": {"num_anchor_poses": counts, "rpn_post_nms_top_n_test": 20, "rpn_pre_nms_top_n_test": 100,
                                "min_size": 224, "max_size": 400, "image_mean": [0.485, 0.456, 0.406]},
                "body_ppi_kwargs": {"th_iou": 0.4, "score_th": 0.2, "th_pose3D": 0.3},
                "hand_ppi_kwargs": {"K": 2, "th_iou": 0.5}, "face_ppi_kwargs": {}}, path)
    public = load_public(path)
    assert public.net.spec.joints == dict(PUBLIC) and public.net.spec.num_anchor_poses == counts
    assert (public.min_size, public.max_size) == (224, 400)
    assert public.merge["body"] == MergeSettings(min_score=0.2, iou=0.4)
    assert public.merge["hand"].iou == 0.5
    assert public.ignored == {"image_mean": [0.485, 0.456, 0.406], "body_ppi_kwargs": {"th_pose3D": 0.3}}

    reference = _small_net(dict(PUBLIC), counts, seed=3, rpn_sizes=PUBLIC_RPN_SIZES)                   # same weights, rounded like the file's
    reference.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    image = torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        for name, a, b in zip(OUTPUT_NAMES, reference(image), public.net(image)):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4, msg=name)

    wrong = tmp_path / "wrong_K.pth"
    payload = torch.load(path, weights_only=True)
    payload["hand_ppi_kwargs"]["K"] = 3
    torch.save(payload, wrong)
    with pytest.raises(checkpoint.CheckpointError, match="K=3"):
        load_public(wrong)


def test_dope_config_rejects_bad_values_naming_the_key() -> None:
    assert from_mapping(DopeConfig, {"num_proposals": 50}).num_proposals == 50
    with pytest.raises(ConfigError, match="'dope.num_proposals'"):
        from_mapping(DopeConfig, {"num_proposals": 0}, prefix="dope.")
    # The runtime is the pose node's own `runtime` parameter, no longer a DOPE key.
    with pytest.raises(ConfigError, match="'dope.runtime'.*known keys"):
        from_mapping(DopeConfig, {"runtime": "torch"}, prefix="dope.")
    with pytest.raises(ConfigError, match="'body_score'"):
        from_mapping(DopeConfig, {"body_score": 1.5})


def test_box_identity_keeps_ids_across_frames() -> None:
    from whole_body_pose.dope.identity import BoxIdentity

    identity = BoxIdentity(min_iou=0.3, max_missed=2)
    a, b = np.array([0, 0, 100, 200.0]), np.array([300, 0, 400, 200.0])
    first = identity.assign(np.stack([a, b]))
    assert sorted(first) == [1, 2]
    moved = identity.assign(np.stack([b + 5, a + 5]))                  # listed in the other order, moved a bit
    assert moved == [first[1], first[0]]
    assert identity.assign(np.stack([a + 10])) == [first[0]]           # b unseen for one frame...
    assert identity.assign(np.stack([a + 10, b])) == [first[0], first[1]]  # ...and back with its id
    for _ in range(3):                                                 # b gone longer than max_missed
        identity.assign(np.stack([a]))
    back = identity.assign(np.stack([a, b]))
    assert back[0] == first[0] and back[1] not in first                # a stranger now
    nan_box = identity.assign(np.stack([a, np.full(4, np.nan)]))
    assert nan_box[0] == first[0] and nan_box[1] not in (*first, back[1])
    identity.reset()                                                   # forgets the boxes, never rewinds ids
    assert identity.assign(np.stack([a]))[0] > max(*first, back[1], nan_box[1])
