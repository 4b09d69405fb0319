"""Inference worker: the ONNX runtime wrapper and the Modal class that serves it on a GPU."""
