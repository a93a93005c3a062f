"""Spikeline toolchain: training frontend (exact gradients), compiler and command line."""
