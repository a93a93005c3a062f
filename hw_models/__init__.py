"""Xylo chip models: specifications, configurations, design rules and the bit-accurate simulator."""

from hw_models.chips import ChipSpec, chip_names, custom_chip, get_chip, register
from hw_models.config import ChipConfig, load_config
from hw_models.errors import ConfigError, InputError, SpikelineError, Violation
from hw_models.rules import check, resources
from hw_models.simulator import Record, simulate

__all__ = [
    "ChipConfig", "ChipSpec", "ConfigError", "InputError", "Record", "SpikelineError", "Violation",
    "check", "chip_names", "custom_chip", "get_chip", "load_config", "register", "resources",
    "simulate",
]
