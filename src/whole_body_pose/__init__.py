"""Whole-body pose estimation: MediaPipe part experts as ONNX, inference runtimes, pipeline."""
