"""Compiler back end: float network -> Xylo chip configuration, with a report. See docs/compiler.md.

    >>> config, report = compile_network(net, "xylo-audio2")    # calibrated, health-checked, with provenance
"""

from toolchain.compile.compiler import CompileError, compile_fixed
from toolchain.compile.pipeline import compile_network
from toolchain.compile.report import CompileReport

__all__ = ["CompileError", "CompileReport", "compile_fixed", "compile_network"]
