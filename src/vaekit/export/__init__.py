"""Inference without PyTorch: the NumPy runtime and ONNX graphs, both built from the layer plans of arch.py."""
