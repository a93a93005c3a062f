"""Verification: float vs chip-grid vs bit-accurate on a task's test split. See docs/compiler.md."""

from toolchain.verify.report import write_report
from toolchain.verify.runner import VerifyResult, verify

__all__ = ["VerifyResult", "verify", "write_report"]
