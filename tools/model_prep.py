"""Convert MediaPipe's TFLite part experts to dynamic-batch ONNX files (run once by `make setup`).

A build step, not part of the runtime package: it runs in the separate conversion venv
(tensorflow-cpu + tf2onnx, see requirements-convert.txt), because tensorflow's protobuf/numpy pins
conflict with mediapipe's.  It therefore imports from the project only `whole_body_pose.models`
(standard library only), which owns the model table, file names and ONNX conventions.

    PYTHONPATH=src python tools/model_prep.py --source <mediapipe>/modules --out .cache/models [--verify]

Steps per model: densify sparse weights (pose_detection ships DENSIFY ops that tf2onnx cannot
convert), convert with tf2onnx, give inputs/outputs meaningful names, make the batch dimension
dynamic (several crops per call; TensorRT dynamic-batch profiles), check batch 3 == 3 x batch 1,
and record sha256 + tensor signatures in manifest.json.  Beside each ONNX file it writes the TFLite
file the litert runtime runs: MediaPipe's, with the same unread outputs pruned (checked equal to the
original on real images).  `--verify` compares every ONNX model with the original TFLite model on
real images.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whole_body_pose.models import (BATCH_DIM, DROPPED_OUTPUTS, INPUT_NAME, MANIFEST, MODELS, OPSET, TFLITE,
                                   sha256_of, tflite_file)

# Bump when the conversion itself changes so existing files are rebuilt.
PREP_VERSION = 4
VERIFY_TOLERANCE = 1e-3  # max |onnx - tflite| relative to max |tflite| per output
VERIFY_IMAGES = ("messi5.jpg", "basketball1.png", "basketball2.png")


@dataclass(frozen=True)
class ModelSpec:
    """One MediaPipe expert: where it lives in the wheel and the names we give its tensors."""

    model: str  # key of whole_body_pose.models.MODELS
    source: str  # path relative to mediapipe/modules
    input_range: tuple[float, float]  # value range the image input expects
    outputs: tuple[str, ...]  # names for the model's outputs, in the TFLite output order

    @property
    def drop(self) -> tuple[str, ...]:
        """Outputs the pipeline never reads: pruned with the layers only they use."""
        return DROPPED_OUTPUTS.get(self.model, ())

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(name for name in self.outputs if name not in self.drop)

    @property
    def file(self) -> str:
        return MODELS[self.model]

    @property
    def name(self) -> str:
        """The manifest's key and the log's name: the file's stem."""
        return Path(self.file).stem


def _spec(model: str, input_range: tuple[float, float] = (0.0, 1.0)) -> ModelSpec:
    return ModelSpec(model, TFLITE[model][0], input_range, TFLITE[model][2])


SPECS: tuple[ModelSpec, ...] = (_spec("pose_landmark"), _spec("hand_landmark"), _spec("hand_landmark_lite"),
                                _spec("face_landmark"), _spec("palm_detection"), _spec("pose_detection", (-1.0, 1.0)),
                                _spec("face_detection", (-1.0, 1.0)))


def log(message: str) -> None:
    print(f"[model_prep] {message}", flush=True)


# ----------------------------------------------------------------------------- densify

def densify_tflite(source: Path, target: Path) -> int:
    """Write `target`: `source` with every DENSIFY op replaced by its dense constant output.

    The dense values come from TFLite itself (the interpreter keeps every tensor after one
    invoke), so no re-implementation of the sparse format is involved.  Returns the number of
    DENSIFY ops removed (0: `source` is copied unchanged).
    """
    import tensorflow as tf
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    densify = [op for op in graph.operators
               if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) == "DENSIFY"]
    if not densify:
        target.write_bytes(source.read_bytes())
        return 0
    # XNNPACK (the default delegate) folds DENSIFY into its own weights and leaves the DENSIFY
    # output tensors zero, so run the reference kernels.
    interpreter = tf.lite.Interpreter(
        model_path=str(source), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    for op in densify:
        sparse, dense = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        values = np.ascontiguousarray(interpreter.get_tensor(op.outputs[0]))
        stored = np.frombuffer(bytes(model.buffers[sparse.buffer].data), dtype=values.dtype)
        if list(values.shape) != list(dense.shape) or np.count_nonzero(values) != np.count_nonzero(stored):
            raise RuntimeError(f"DENSIFY output {dense.name!r}: got {values.shape} with "
                               f"{np.count_nonzero(values)} non-zeros; expected {list(dense.shape)} with "
                               f"{np.count_nonzero(stored)}")
        if dense.buffer == 0:  # buffer 0 is the shared empty sentinel: give the tensor its own
            model.buffers.append(type(model.buffers[0])())
            dense.buffer = len(model.buffers) - 1
        model.buffers[dense.buffer].data = np.frombuffer(values.tobytes(), dtype=np.uint8)
        # The sparse source tensor is now unused; make it a plain dense tensor as well so no
        # converter trips over its sparsity metadata.
        sparse.sparsity = None
        sparse.buffer = dense.buffer
    graph.operators = [op for op in graph.operators if op not in densify]
    flatbuffer_utils.write_model(model, str(target))
    return len(densify)


def prune_tflite(source: Path, target: Path, spec: ModelSpec) -> None:
    """Write `target`: `source` without the outputs `spec.drop` and the operators only they needed
    (a byte copy when nothing is dropped)."""
    if not spec.drop:
        target.write_bytes(source.read_bytes())
        return
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    if len(graph.outputs) != len(spec.outputs):
        raise RuntimeError(f"{spec.name}: {len(graph.outputs)} TFLite outputs, expected {len(spec.outputs)}")
    graph.outputs = np.array([index for index, name in zip(graph.outputs, spec.outputs) if name not in spec.drop],
                             dtype=np.int32)
    while True:  # drop operators none of whose outputs is read, until none is left
        read = {int(t) for op in graph.operators for t in op.inputs} | {int(t) for t in graph.outputs}
        kept = [op for op in graph.operators if any(int(t) in read for t in op.outputs)]
        if len(kept) == len(graph.operators):
            break
        graph.operators = kept
    flatbuffer_utils.write_model(model, str(target))


def check_pruned(original: Path, pruned: Path, spec: ModelSpec, images: np.ndarray) -> None:
    """The pruned TFLite file gives exactly the original's kept outputs on real images."""
    import tensorflow as tf

    def outputs(path: Path, names: tuple[str, ...], image: np.ndarray) -> dict[str, np.ndarray]:
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=2)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
        interpreter.invoke()
        return {name: interpreter.get_tensor(d["index"]) for name, d in zip(names, interpreter.get_output_details())}

    for image in images:
        want, got = outputs(original, spec.outputs, image), outputs(pruned, spec.kept, image)
        for name in spec.kept:
            if not np.array_equal(want[name], got[name]):
                raise RuntimeError(f"{spec.name}: pruned TFLite output {name!r} differs from the original")


# ----------------------------------------------------------------------------- conversion

def convert(tflite: Path, spec: ModelSpec):
    """tf2onnx conversion of one (dense) TFLite file to an ONNX ModelProto with our tensor names."""
    import tf2onnx

    model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=OPSET)
    foreign = sorted({node.op_type for node in model.graph.node if node.domain not in ("", "ai.onnx")})
    if foreign:  # tf2onnx leaves ops it cannot convert in place instead of failing
        raise RuntimeError(f"{spec.name}: unconverted ops {foreign}")
    if len(model.graph.input) != 1 or len(model.graph.output) != len(spec.outputs):
        raise RuntimeError(f"{spec.name}: unexpected signature {[i.name for i in model.graph.input]} -> "
                           f"{[o.name for o in model.graph.output]}")
    renames = {model.graph.input[0].name: INPUT_NAME}
    renames.update({out.name: name for out, name in zip(model.graph.output, spec.outputs)})
    for value in (*model.graph.input, *model.graph.output):
        value.name = renames[value.name]
    for node in model.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    return model


def prune_outputs(model, drop: tuple[str, ...]):
    """Remove outputs `drop` and every node that only they needed."""
    graph = model.graph
    kept_outputs = [value for value in graph.output if value.name not in drop]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed = {value.name for value in kept_outputs}
    kept_nodes = []
    for node in reversed(list(graph.node)):
        if any(name in needed for name in node.output):
            kept_nodes.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept_nodes))
    _drop_unused_initializers(graph)
    return model


def make_batch_dynamic(model):
    """Turn the fixed batch of 1 into a symbolic `batch` dimension.

    TFLite graphs bake batch 1 into Reshape targets; a leading 1 becomes 0 ("copy the input's
    dimension"), which keeps the batch through every reshape because all of them act on
    batch-major tensors.
    """
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] not in initializers:
            continue
        if any(attr.name == "allowzero" and attr.i for attr in node.attribute):
            raise RuntimeError(f"Reshape {node.name} uses allowzero=1")
        target = numpy_helper.to_array(initializers[node.input[1]]).copy()
        if target.size and target[0] == 1:
            target[0] = 0
            name = f"{node.name}__dynamic_batch_shape"
            graph.initializer.append(numpy_helper.from_array(target.astype(np.int64), name))
            node.input[1] = name
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    del graph.value_info[:]
    _drop_unused_initializers(graph)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def canonical_names(model):
    """Rename nodes and internal tensors by position so a re-conversion is byte-identical.

    tf2onnx numbers generated names with a process-wide counter, which would change the file's
    sha256 (and invalidate TensorRT engine caches keyed by it) on every run.
    """
    graph = model.graph
    keep = {value.name for value in (*graph.input, *graph.output)}
    initializers = {init.name: init for init in graph.initializer}
    order: list[str] = []  # initializers by first use (their list order is not stable either)
    renames: dict[str, str] = {}
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        for name in node.input:
            if name in initializers and name not in renames:
                renames[name] = f"const_{len(order)}"
                order.append(name)
        node.input[:] = [renames.get(name, name) for name in node.input]
        for position, name in enumerate(node.output):
            if name and name not in keep:
                renames[name] = f"{node.op_type.lower()}_{index}_{position}"
                node.output[position] = renames[name]
    used = [initializers[name] for name in order]
    for init in used:
        init.name = renames[init.name]
    del graph.initializer[:]
    graph.initializer.extend(used)
    return model


def signature(model) -> dict[str, list[dict]]:
    """Input/output names, shapes (batch as "batch") and dtypes, as stored in the manifest."""
    import onnx

    def describe(value) -> dict:
        shape = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        return {"name": value.name, "shape": shape, "dtype": str(np.dtype(dtype))}

    return {"inputs": [describe(v) for v in model.graph.input],
            "outputs": [describe(v) for v in model.graph.output]}


# ----------------------------------------------------------------------------- checks on real images

def real_images(media: Path, size: tuple[int, int], value_range: tuple[float, float]) -> np.ndarray:
    """The verification images resized to the model input (NHWC float32 in `value_range`)."""
    import tensorflow as tf

    batch = []
    for name in VERIFY_IMAGES:
        path = media / name
        if not path.is_file():
            raise FileNotFoundError(f"verification image missing: {path}")
        image = tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size, antialias=True).numpy() / 255.0
        low, high = value_range
        batch.append(low + image * (high - low))
    return np.stack(batch).astype(np.float32)


def onnx_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_batch(path: Path, images: np.ndarray) -> float:
    """Max |batch-3 output - batch-1 outputs| over all outputs; raises when they disagree."""
    session = onnx_session(path)
    batched = session.run(None, {INPUT_NAME: images})
    single = [session.run(None, {INPUT_NAME: images[i:i + 1]}) for i in range(len(images))]
    worst = 0.0
    for index, output in enumerate(batched):
        stacked = np.concatenate([item[index] for item in single])
        if output.shape != stacked.shape:
            raise RuntimeError(f"{path.name}: batch output {index} has shape {output.shape}, "
                               f"single outputs stack to {stacked.shape}")
        worst = max(worst, float(np.max(np.abs(output - stacked))))
    if worst > 1e-4:
        raise RuntimeError(f"{path.name}: batch 3 differs from 3 x batch 1 by {worst:.3g}")
    return worst


def compare_with_tflite(tflite: Path, onnx_path: Path, spec: ModelSpec, images: np.ndarray) -> dict[str, dict]:
    """Run the ORIGINAL TFLite model and the ONNX model on each image; report per-output errors."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(tflite), num_threads=2)
    interpreter.allocate_tensors()
    source_in = interpreter.get_input_details()[0]["index"]
    ordered = [d["index"] for d in interpreter.get_output_details()]  # subgraph output order
    session = onnx_session(onnx_path)
    errors = {name: {"max_abs": 0.0, "ref_max_abs": 0.0} for name in spec.kept}
    for image in images:
        interpreter.set_tensor(source_in, image[None])
        interpreter.invoke()
        expected = {name: interpreter.get_tensor(index) for name, index in zip(spec.outputs, ordered)}
        actual = session.run(list(spec.kept), {INPUT_NAME: image[None]})
        for name, got in zip(spec.kept, actual):
            want = expected[name]
            got = got.reshape(want.shape)
            entry = errors[name]
            entry["max_abs"] = max(entry["max_abs"], float(np.max(np.abs(got - want))))
            entry["ref_max_abs"] = max(entry["ref_max_abs"], float(np.max(np.abs(want))))
    for entry in errors.values():
        entry["relative"] = entry["max_abs"] / max(entry["ref_max_abs"], 1e-6)
    return errors


# ----------------------------------------------------------------------------- driver

def load_manifest(out: Path) -> dict:
    path = out / MANIFEST
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            log(f"{path} is unreadable; rebuilding it")
    return {}


def write_manifest(out: Path, manifest: dict) -> None:
    temporary = out / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, out / MANIFEST)


def up_to_date(entry: dict | None, target: Path, lite: Path, source_sha: str) -> bool:
    return (entry is not None and target.is_file() and lite.is_file() and entry.get("prep_version") == PREP_VERSION
            and entry.get("source_sha256") == source_sha and entry.get("sha256") == sha256_of(target)
            and entry.get("tflite_sha256") == sha256_of(lite))


def prepare(spec: ModelSpec, source_dir: Path, out: Path, media: Path, manifest: dict) -> bool:
    """Convert one model unless it is up to date; returns True when it was (re)built."""
    import onnx

    source = source_dir / spec.source
    if not source.is_file():
        raise FileNotFoundError(f"{spec.name}: TFLite source missing: {source}")
    source_sha = sha256_of(source)
    target = out / spec.file
    lite = out / tflite_file(spec.model)
    models = manifest.setdefault("models", {})
    if up_to_date(models.get(spec.name), target, lite, source_sha):
        log(f"{spec.name}: up to date ({target.name}), skipped")
        return False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="model_prep_") as scratch:
        dense = Path(scratch) / source.name
        removed = densify_tflite(source, dense)
        if removed:
            log(f"{spec.name}: replaced {removed} DENSIFY ops by dense constants")
        model = make_batch_dynamic(canonical_names(prune_outputs(convert(dense, spec), spec.drop)))
    partial = out / f".{spec.file}.tmp"
    onnx.save(model, str(partial))
    sig = signature(model)
    height, width = sig["inputs"][0]["shape"][1:3]
    images = real_images(media, (height, width), spec.input_range)
    batch_error = check_batch(partial, images)
    os.replace(partial, target)
    partial_lite = out / f".{lite.name}.tmp"
    prune_tflite(source, partial_lite, spec)
    check_pruned(source, partial_lite, spec, images)
    os.replace(partial_lite, lite)
    models[spec.name] = {
        "file": spec.file, "sha256": sha256_of(target), "source": spec.source, "source_sha256": source_sha,
        "tflite": lite.name, "tflite_sha256": sha256_of(lite),
        "prep_version": PREP_VERSION, "opset": OPSET, "layout": "NHWC", "input_range": list(spec.input_range),
        "densified_ops": removed, **sig,
    }
    write_manifest(out, manifest)
    log(f"{spec.name}: wrote {target} in {time.monotonic() - started:.1f} s "
        f"(batch 3 vs 3 x batch 1: max diff {batch_error:.2g})")
    return True


def verify(spec: ModelSpec, source_dir: Path, out: Path, media: Path, manifest: dict) -> bool:
    entry = manifest["models"][spec.name]
    height, width = entry["inputs"][0]["shape"][1:3]
    images = real_images(media, (height, width), spec.input_range)
    errors = compare_with_tflite(source_dir / spec.source, out / spec.file, spec, images)
    ok = all(e["relative"] < VERIFY_TOLERANCE for e in errors.values())
    entry["verify"] = {"images": list(VERIFY_IMAGES), "tolerance_relative": VERIFY_TOLERANCE, "outputs": errors}
    write_manifest(out, manifest)
    detail = ", ".join(f"{name}: max|d|={e['max_abs']:.2e} rel={e['relative']:.2e}" for name, e in errors.items())
    log(f"{spec.name}: verify vs TFLite {'OK' if ok else 'FAILED'} ({detail})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="mediapipe/modules directory of mediapipe 0.10.21")
    parser.add_argument("--out", type=Path, default=Path(".cache/models"))
    parser.add_argument("--media", type=Path, default=Path(".cache/media"), help="real images for the checks")
    parser.add_argument("--only", nargs="*", choices=[s.name for s in SPECS], help="restrict to these models")
    parser.add_argument("--verify", action="store_true", help="compare ONNX with the original TFLite models")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # tf.lite.Interpreter's deprecation/debug notices say nothing about this use.
    warnings.filterwarnings("ignore", category=UserWarning, module="tensorflow.lite.python.interpreter")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(args.out)
    manifest["format"] = 1
    specs = [s for s in SPECS if not args.only or s.name in args.only]
    started = time.monotonic()
    for index, spec in enumerate(specs, 1):
        log(f"[{index}/{len(specs)}] {spec.name}")
        prepare(spec, args.source, args.out, args.media, manifest)
    failed = [s.name for s in specs if args.verify and not verify(s, args.source, args.out, args.media, manifest)]
    write_manifest(args.out, manifest)  # also when nothing changed: make compares its timestamp
    log(f"done in {time.monotonic() - started:.1f} s; models in {args.out}")
    if failed:
        log(f"verification FAILED for: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
