"""Colouring with a trained checkpoint: the colorizer, the network built from a checkpoint, folder evaluation,
ONNX export."""
