"""Benchmarks: run each as a script or with python -m benchmarks.<name>."""
