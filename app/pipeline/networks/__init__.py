"""The networks' files and runtimes: weights sources, conversion to ONNX, checksums, MTCNN on ONNX Runtime."""
