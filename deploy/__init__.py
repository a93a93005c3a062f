"""Deployment: backends (sim, xylosim, samna), bundles, hardware-in-the-loop checks, doctor."""
