"""Compiler back end: float network -> Xylo chip configuration, with a report. See docs/compiler.md."""

from toolchain.compile.compiler import CompileError, compile_network
from toolchain.compile.report import CompileReport

__all__ = ["CompileError", "CompileReport", "compile_network"]
