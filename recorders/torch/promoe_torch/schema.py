"""The trace format v1, read from its one declaration, traces/trace_format.def.

The C writer and reader include that file as X-macro tables; this module
parses the same lines, so the Python writer names, types, chunks and
compresses every dataset exactly as the C writer does.  Nothing about the
format is written down here.
"""
import os
import re

_ENTRY = re.compile(r"^(TRACE_[A-Z]+)\((.*)\)\s*(/\*.*)?$")


def _find_def():
    """The declaration: $PROMOE_TRACE_FORMAT, else beside this package as the
    source tree and `make install` both lay it out (ROOT/traces/...,
    ROOT/recorders/torch/promoe_torch/)."""
    env = os.environ.get("PROMOE_TRACE_FORMAT")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    return os.path.join(root, "traces", "trace_format.def")


def _value(word):
    word = word.strip()
    if word.startswith('"'):
        return word.strip('"')
    try:
        return int(word)
    except ValueError:
        return word


class Schema:
    """consts: name -> value (FORMAT_NAME, FORMAT_VERSION, ...);
    attrs: [(name, type, required)]; columns: [(id, path, content, type,
    dim1, dim2)]; tables: [(id, path, type)]; tensors: [(id, path, content,
    type, dim0, dim1, dim2)], each in the declaration's order."""

    def __init__(self, path=None):
        self.path = path or _find_def()
        if not os.path.exists(self.path):
            raise FileNotFoundError(
                "%s: the trace format declaration is missing (set "
                "PROMOE_TRACE_FORMAT to promoe's traces/trace_format.def)" % self.path)
        self.consts, self.attrs, self.columns, self.tables, self.tensors = {}, [], [], [], []
        kinds = {"TRACE_STRING": None, "TRACE_CONST": None, "TRACE_ATTR": self.attrs,
                 "TRACE_COLUMN": self.columns, "TRACE_TABLE": self.tables,
                 "TRACE_TENSOR": self.tensors}
        with open(self.path) as f:
            for line in f:
                m = _ENTRY.match(line.strip())
                if not m or m.group(1) not in kinds:
                    continue
                args = tuple(_value(a) for a in m.group(2).split(","))
                if kinds[m.group(1)] is None:
                    self.consts[args[0]] = args[1]
                else:
                    kinds[m.group(1)].append(args)
        if self.consts.get("FORMAT_NAME") is None or not self.columns:
            raise ValueError("%s: no trace format declared in this file" % self.path)

    def column(self, ident):
        return next(c for c in self.columns if c[0] == ident)

    def chunk_rows(self, row_bytes, cap):
        """Rows in a chunk of a dataset whose rows take row_bytes on disk."""
        rows = self.consts["CHUNK_TARGET_BYTES"] // max(row_bytes, 1)
        return max(1, min(rows, cap))


_schema = None


def schema():
    """The format, parsed once."""
    global _schema
    if _schema is None:
        _schema = Schema()
    return _schema
