"""TraceWriter: writes trace format v1 from Python, as promoe's C writer does.

Every dataset name, type, chunk size, filter and attribute comes from the
format's declaration (schema.py).  Tokens stream to disk an iteration at a
time; the file is written under a temporary name and renamed into place at
commit, so it appears complete or not at all.
"""
import os
import tempfile

import h5py
import numpy as np

from .schema import schema

# The declaration's type words as numpy types (all little-endian).
_NUMPY = {"i16": "<i2", "i32": "<i4", "i64": "<i8", "u8": "|u1", "f16": "<f2",
          "f32": "<f4", "f64": "<f8"}
# The optional content a writer is asked for, by the declaration's bit names.
CONTENT = {"weights": "TRACE_WEIGHTS", "logits": "TRACE_LOGITS", "hidden": "TRACE_HIDDEN",
           "router_weight": "TRACE_ROUTER_WEIGHT"}


def _file_type(word, str_width):
    if word == "str":
        t = h5py.h5t.C_S1.copy()
        t.set_size(str_width)
        t.set_strpad(h5py.h5t.STR_NULLTERM)
        return t
    return h5py.h5t.py_create(np.dtype(_NUMPY[word]))


def _untimed_groups(f, path):
    """Makes the groups above dataset `path` without time stamps."""
    parts = path.split("/")[:-1]
    for i in range(len(parts)):
        name = "/".join(parts[:i + 1])
        if name not in f:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            h5py.h5g.create(f.id, name.encode(), gcpl=gcpl)


def _create(f, path, ftype, dims, chunk, compressed, extendible):
    _untimed_groups(f, path)
    maxdims = ((h5py.h5s.UNLIMITED,) + tuple(dims[1:])) if extendible else tuple(dims)
    space = h5py.h5s.create_simple(tuple(dims), maxdims)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(tuple(chunk))
    if compressed:
        dcpl.set_shuffle()
        dcpl.set_deflate(schema().consts["DEFLATE_LEVEL"])
    dcpl.set_obj_track_times(False)
    return h5py.Dataset(h5py.h5d.create(f.id, path.encode(), ftype, space, dcpl=dcpl))


def _attr(f, name, word, value):
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    if word == "str":
        data = np.array(value.encode(), dtype="S%d" % (len(value.encode()) + 1))
        ftype = _file_type("str", data.dtype.itemsize)
    else:
        data = np.array(value, dtype="<i8")
        ftype = _file_type("i64", 0)
    h5py.h5a.create(f.id, name.encode(), ftype, space).write(data)


class TraceWriter:
    """Writes one trace.  content: the optional datasets to write, a subset of
    {"weights", "logits", "hidden", "router_weight"}; hidden_layer_stride S > 1:
    hidden states are given for every layer but only layers 0, S, 2S, ... are
    kept (the rest stored as zeros); compression: "gzip" or "none"."""

    def __init__(self, path, *, model, num_layers, num_experts, top_k, hidden_dim=0,
                 content=(), source="promoe_torch", hidden_layer_stride=1,
                 compression="gzip"):
        s = schema()
        unknown = set(content) - set(CONTENT)
        if unknown:
            raise ValueError("unknown trace content %s (known: %s)"
                             % (sorted(unknown), ", ".join(sorted(CONTENT))))
        if not (1 <= top_k <= num_experts) or num_layers < 1:
            raise ValueError("invalid trace shape (layers %d, experts %d, top-k %d)"
                             % (num_layers, num_experts, top_k))
        if {"hidden", "router_weight"} & set(content) and hidden_dim < 1:
            raise ValueError("hidden states or router weights need a hidden dimension")
        if compression not in ("gzip", "none"):
            raise ValueError("compression must be gzip or none, not %r" % compression)
        self.path = path
        self.dims = {1: 1, "L": num_layers, "K": top_k, "E": num_experts, "D": hidden_dim}
        self.meta = dict(model=model, source=source, num_layers=num_layers,
                         num_experts=num_experts, top_k=top_k, hidden_dim=hidden_dim)
        self.stride = hidden_layer_stride if "hidden" in content else 1
        self.content = set(CONTENT[c] for c in content)
        self.compressed = compression == "gzip"
        self.requests = []
        self.router_weight = None
        self.tokens = 0
        self.last_iteration = None
        d, base = os.path.split(os.path.abspath(path))
        fd, self.tmp = tempfile.mkstemp(prefix=base + ".tmp.", dir=d)
        os.close(fd)
        # as common/h5_attr.c creates files: no time stamps, HDF5 1.8 and later
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_LATEST)
        self.f = h5py.File(h5py.h5f.create(self.tmp.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl,
                                           fapl=fapl))
        # the columns are made when a write block's tokens have come, or at
        # commit (trace_format.def): until then appends wait in `pending`
        self.kept = []  # (id, path, file type, inner dims, bytes of a row on disk)
        for ident, cpath, bit, word, d1, d2 in s.columns:
            if bit == 0 or bit in self.content:
                ftype, inner = _file_type(word, 0), (self.dims[d1], self.dims[d2])
                self.kept.append((ident, cpath, ftype, inner,
                                  inner[0] * inner[1] * ftype.get_size()))
        self.block_rows = max(1, s.consts["WRITE_BLOCK_BYTES"]
                              // sum(k[4] for k in self.kept))
        self.columns = {}
        self.pending = []

    def _make_columns(self, bound):
        """The token datasets, chunks of at most `bound` rows (0: no bound),
        with what waited in `pending` written."""
        s = schema()
        for ident, cpath, ftype, inner, row in self.kept:
            rows = s.chunk_rows(row, s.consts["TOKEN_CHUNK_ROWS_MAX"])
            if bound:
                rows = min(rows, bound)
            rank1 = inner == (1, 1)
            dims, chunk = ((0,), (rows,)) if rank1 else ((0,) + inner, (rows,) + inner)
            self.columns[ident] = _create(self.f, cpath, ftype, dims, chunk, self.compressed,
                                          True)
        at = 0
        for values in self.pending:
            at = self._write_rows(values, at)
        self.pending = []

    def append(self, iteration, request, position, phase, experts, weights=None, logits=None,
               hidden=None):
        """One iteration of n tokens: request, position, phase ([n]), experts
        ([n, L, K], rank order, -1 = missing) and the optional arrays the
        writer was created with ([n, L, K], [n, L, E], [n, L, D])."""
        if self.last_iteration is not None and iteration < self.last_iteration:
            raise ValueError("iteration %d appended after iteration %d (iterations must "
                             "not decrease)" % (iteration, self.last_iteration))
        self.last_iteration = iteration
        n = len(request)
        given = {"REQUEST": request, "POSITION": position, "PHASE": phase,
                 "ITERATION": np.full(n, iteration), "EXPERTS": experts, "WEIGHTS": weights,
                 "LOGITS": logits, "HIDDEN": hidden}
        if self.stride > 1 and hidden is not None:
            hidden = np.array(hidden, dtype=np.float32)
            keep = np.arange(self.meta["num_layers"]) % self.stride == 0
            hidden[:, ~keep, :] = 0
            given["HIDDEN"] = hidden
        e = np.asarray(experts)
        if e.size and (e.min() < -1 or e.max() >= self.meta["num_experts"]):
            raise ValueError("expert id out of range [0, %d)" % self.meta["num_experts"])
        values = {}
        for ident, cpath, ftype, inner, _ in self.kept:
            v = given[ident]
            if v is None:
                raise ValueError("iteration %d lacks %s" % (iteration, cpath))
            shape = () if inner == (1, 1) else inner
            v = np.asarray(v, dtype=ftype.dtype)
            if v.shape[0] != n or v.shape[1:] != shape:
                raise ValueError("%s: expected %s rows of shape %s, got %s"
                                 % (cpath, n, shape, v.shape))
            values[ident] = v
        if self.columns:
            self._write_rows(values, self.tokens)
        else:
            self.pending.append(values)
        self.tokens += n
        if not self.columns and self.tokens >= self.block_rows:
            self._make_columns(0)

    def _write_rows(self, values, at):
        """One append's values at row `at`; the row after them."""
        for ident, v in values.items():
            dset = self.columns[ident]
            dset.resize(at + len(v), axis=0)
            dset[at:at + len(v)] = v
        return at + len(next(iter(values.values())))

    def add_request(self, ident, prompt_len, output_len, arrival_s=0.0, dataset="torch"):
        self.requests.append((ident, prompt_len, output_len, arrival_s, dataset))

    def set_router_weight(self, weight):
        """Router weights, [L, E, D]."""
        if "TRACE_ROUTER_WEIGHT" not in self.content:
            raise ValueError("the writer was not created with router weights")
        self.router_weight = np.asarray(weight, dtype=np.float32)

    def _write_tables(self):
        s = schema()
        width = s.consts["DATASET_NAME_MAX"]
        cols = list(zip(*self.requests)) if self.requests else [[]] * len(s.tables)
        for (ident, path, word), values in zip(s.tables, cols):
            ftype = _file_type(word, width)
            if word == "str":
                data = np.array([v.encode()[:width - 1] for v in values], dtype="S%d" % width)
            else:
                data = np.array(values, dtype=_NUMPY[word])
            rows = s.chunk_rows(ftype.get_size(), s.consts["TABLE_CHUNK_ROWS_MAX"])
            rows = min(rows, max(len(data), 1))  # written at once: no longer than the table
            d = _create(self.f, path, ftype, (len(data),), (rows,), True, True)
            if len(data):
                d.id.write(h5py.h5s.ALL, h5py.h5s.ALL, data)

    def _write_tensors(self):
        for ident, path, bit, word, d0, d1, d2 in schema().tensors:
            if bit not in self.content:
                continue
            shape = (self.dims[d0], self.dims[d1], self.dims[d2])
            if self.router_weight is None or self.router_weight.shape != shape:
                raise ValueError("router weights of shape %s were promised but not given"
                                 % (shape,))
            ftype = _file_type(word, 0)
            d = _create(self.f, path, ftype, shape, (1,) + shape[1:], self.compressed, False)
            d[...] = self.router_weight.astype(_NUMPY[word])

    def _write_attrs(self):
        s = schema()
        values = dict(self.meta, format=s.consts["FORMAT_NAME"],
                      version=s.consts["FORMAT_VERSION"])
        if not {"TRACE_HIDDEN", "TRACE_ROUTER_WEIGHT"} & self.content:
            values["hidden_dim"] = 0
        if self.stride > 1:
            values["hidden_layer_stride"] = self.stride
        for name, word, required in s.attrs:
            if name in values:
                _attr(self.f, name, word, values[name])
            elif required:
                raise ValueError("no value for the required attribute %s" % name)

    def commit(self):
        """Writes the request table, tensors and attributes, and renames the
        file into place.  On failure nothing appears at path."""
        try:
            if not self.columns:
                self._make_columns(max(self.tokens, 1))
            self._write_tables()
            self._write_tensors()
            self._write_attrs()
            self.f.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self):
        """Discards everything written."""
        try:
            self.f.close()
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
