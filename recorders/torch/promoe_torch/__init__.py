"""promoe_torch: record promoe traces (format v1) from PyTorch MoE models.

Recorder hooks a loaded model's routers while it generates; TraceWriter
writes the format from Python exactly as promoe's C writer does, both
reading its one declaration, traces/trace_format.def.
"""
from .families import FAMILIES, route
from .recorder import Recorder
from .writer import TraceWriter

__all__ = ["FAMILIES", "Recorder", "TraceWriter", "route"]
