"""Tests of the PyTorch recorder and of the hf-router-logits importer, on
small models of four families built in torch (tiny_moe.py).

Every check compares the trace with something computed another way: the
experts the model itself used, numpy's own softmax and top-k of the recorded
logits, the recorded hidden state times the recorded router weights, the
lengths the generation loop produced, the trace promoe's C writer makes for
a model of the same shape, and promoe's own reading of the file.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import tiny_moe  # noqa: E402
from promoe_torch import Recorder, TraceWriter  # noqa: E402

PROMOE = os.environ.get("PROMOE") or os.path.join(HERE, "..", "..", "..", "promoe")


def promoe(*args):
    r = subprocess.run([PROMOE] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("promoe %s failed (%d): %s" % (" ".join(map(str, args)),
                                                           r.returncode, r.stderr.strip()))
    return r.stdout


def softmax_topk(logits, k, renormalise):
    """numpy: experts in rank order and weights, from logits [..., E]."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    order = np.argsort(-p, axis=-1, kind="stable")[..., :k]
    w = np.take_along_axis(p, order, -1)
    if renormalise:
        w /= w.sum(-1, keepdims=True)
    return order, w


def read(path):
    with h5py.File(path, "r") as f:
        out = {k: f[k][...] for k in ("tokens/request", "tokens/position", "tokens/phase",
                                      "tokens/iteration", "routing/experts")}
        for k in ("routing/weights", "routing/logits", "hidden/input", "model/router_weight",
                  "requests/id", "requests/prompt_len", "requests/output_len"):
            if k in f:
                out[k] = f[k][...]
        out["attrs"] = {k: f.attrs[k] for k in f.attrs}
    return out


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)


class RecordOneRequest(Tmp):
    """One prompt, greedy generation, each family."""

    def check_family(self, family):
        model = tiny_moe.build(family, seed=1)
        shape = tiny_moe.SHAPES[family]
        P, N = 7, 5
        ids = torch.randint(0, 101, (1, P), generator=torch.Generator().manual_seed(2))
        out = self.path(family + ".h5")
        with Recorder(model, out, model_name="tiny-" + family):
            generated = tiny_moe.generate(model, ids, max_new_tokens=N)
        self.assertEqual(generated.shape[1], P + N)
        t = read(out)
        L = shape["layers"] - shape.get("first_dense", 0)
        K, E = shape["top_k"], shape["experts"]
        T = P + N - 1  # the last generated token is never fed back
        self.assertEqual(t["routing/experts"].shape, (T, L, K))
        # phases, positions, iterations and the request table
        np.testing.assert_array_equal(t["tokens/phase"], [0] * P + [1] * (N - 1))
        np.testing.assert_array_equal(t["tokens/position"], np.arange(T))
        np.testing.assert_array_equal(t["tokens/iteration"], [0] * P + list(range(1, N)))
        np.testing.assert_array_equal(t["requests/prompt_len"], [P])
        np.testing.assert_array_equal(t["requests/output_len"], [N - 1])
        # the experts are those the model used (as sets: DeepSeek's router
        # returns them unsorted), in the rank order of the recorded logits
        used = [torch.cat(c).numpy() for c in model.chosen]
        for l in range(L):
            self.assertEqual([sorted(r) for r in t["routing/experts"][:, l]],
                             [sorted(r) for r in used[l]], "layer %d" % l)
        experts, weights = softmax_topk(t["routing/logits"], K, shape["norm"])
        np.testing.assert_array_equal(t["routing/experts"], experts)
        np.testing.assert_allclose(t["routing/weights"], weights, rtol=1e-5, atol=1e-6)
        # hidden state (float16) x router weight (float16) gives the logits
        h = t["hidden/input"].astype(np.float64)
        w = t["model/router_weight"].astype(np.float64)
        again = np.einsum("tld,led->tle", h, w)
        bound = np.einsum("tld,led->tle", np.abs(h), np.abs(w)) * 2e-3
        self.assertTrue(np.all(np.abs(again - t["routing/logits"]) <= bound + 1e-6))
        # promoe reads it and agrees on the counts
        info = json.loads(promoe("trace", "info", "--json", out))
        self.assertEqual((info["tokens"], info["prefill_tokens"], info["decode_tokens"]),
                         (T, P, N - 1))
        return out

    def test_mixtral(self):
        self.check_family("mixtral")

    def test_qwen2_moe(self):
        self.check_family("qwen2_moe")

    def test_olmoe(self):
        out = self.check_family("olmoe")
        # its hidden states replay in the predictors that need them
        for p in ("gate-reuse", "learned:train=%s,epochs=2,hidden=16" % out):
            r = json.loads(promoe("predict", "eval", "--trace", out, "--predictor", p,
                                  "--split", "0.5", "--json").splitlines()[0])
            self.assertGreater(r["scored_tokens"], 0, p)
            self.assertGreater(r["precision"], 0, p)

    def test_deepseek(self):
        self.check_family("deepseek")


class RecordBatch(Tmp):
    def test_left_padded_batch(self):
        model = tiny_moe.build("mixtral", seed=3)
        lens, N = [5, 3, 6], 4
        width = max(lens)
        ids = torch.zeros((3, width), dtype=torch.long)
        mask = torch.zeros((3, width), dtype=torch.long)
        g = torch.Generator().manual_seed(4)
        for b, n in enumerate(lens):  # left padding, as generate wants
            ids[b, width - n:] = torch.randint(1, 101, (n,), generator=g)
            mask[b, width - n:] = 1
        out = self.path("batch.h5")
        with Recorder(model, out, hidden=False):
            tiny_moe.generate(model, ids, mask, max_new_tokens=N)
        t = read(out)
        it, req, pos, ph = (t["tokens/iteration"], t["tokens/request"], t["tokens/position"],
                            t["tokens/phase"])
        # one prefill iteration per request, then N-1 decode iterations of 3 tokens
        self.assertEqual(len(np.unique(it)), 3 + N - 1)
        for r, n in enumerate(lens):
            self.assertEqual(list(pos[(req == r) & (ph == 0)]), list(range(n)))
            self.assertEqual(list(pos[(req == r) & (ph == 1)]), list(range(n, n + N - 1)))
            self.assertEqual(len(np.unique(it[(req == r) & (ph == 0)])), 1)
        for i in np.unique(it[ph == 1]):
            self.assertEqual(sorted(req[it == i]), [0, 1, 2])
        np.testing.assert_array_equal(t["requests/prompt_len"], lens)
        np.testing.assert_array_equal(t["requests/output_len"], [N - 1] * 3)
        self.assertNotIn("hidden/input", t)
        # padding was never recorded: the model routed 3 x width prompt rows
        self.assertEqual(int((ph == 0).sum()), sum(lens))


class Refusals(Tmp):
    def test_model_without_router(self):
        model = torch.nn.Sequential(torch.nn.Linear(4, 4))
        model.config = tiny_moe.make_config("olmoe")
        with self.assertRaises(ValueError) as e:
            Recorder(model, self.path("none.h5"))
        self.assertIn("no MoE router found in Sequential: looked for modules named "
                      "'*.mlp.gate' (family olmoe)", str(e.exception))
        self.assertFalse(os.path.exists(self.path("none.h5")))

    def test_failed_run_leaves_no_file(self):
        model = tiny_moe.build("mixtral", layers=2)
        out = self.path("failed.h5")
        with self.assertRaises(RuntimeError):
            with Recorder(model, out):
                tiny_moe.generate(model, torch.tensor([[1, 2, 3]]), max_new_tokens=2)
                raise RuntimeError("the user's run failed")
        self.assertEqual(os.listdir(self.dir.name), [])


class SameFormatAsC(Tmp):
    """A recorder trace and a `promoe exec` trace of the same shape (the tiny
    preset: 4 layers, 8 experts, top-2, hidden 64) store every dataset and
    attribute alike."""

    def test_layout(self):
        c_trace, py_trace = self.path("exec.h5"), self.path("torch.h5")
        promoe("exec", "-m", "tiny", "--prompt-ids", "3,17,42,0,99", "--max-new", "4",
               "--record", c_trace, "--record-hidden=2")
        model = tiny_moe.build("mixtral", layers=4, hidden=64)
        with Recorder(model, py_trace, model_name="tiny", hidden_every=2):
            tiny_moe.generate(model, torch.tensor([[3, 17, 42, 0, 99]]), max_new_tokens=4)

        def layout(path):
            items = {}
            with h5py.File(path, "r") as f:
                def visit(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        pl = obj.id.get_create_plist()
                        items[name] = (obj.dtype.str, obj.shape[1:], obj.maxshape, obj.chunks,
                                       obj.compression, obj.compression_opts, obj.shuffle,
                                       obj.id.get_type().get_class(),
                                       obj.id.get_type().get_size(),
                                       pl.get_obj_track_times())
                f.visititems(visit)
                attrs = {k: (f.attrs.get_id(k).get_type().get_class(),
                             f.attrs.get_id(k).get_type().get_size()
                             if k not in ("model", "source") else None) for k in f.attrs}
                return items, attrs, dict(f.attrs)

        c_items, c_attrs, c_values = layout(c_trace)
        p_items, p_attrs, p_values = layout(py_trace)
        self.assertEqual(sorted(c_items), sorted(p_items))
        for name in c_items:
            self.assertEqual(c_items[name], p_items[name], name)
        self.assertEqual(c_attrs, p_attrs)
        for k in ("format", "version", "num_layers", "num_experts", "top_k", "hidden_dim",
                  "hidden_layer_stride"):
            self.assertEqual(c_values[k], p_values[k], k)
        info = promoe("trace", "info", py_trace)
        self.assertIn("(hidden states of one layer in 2)", info)

    def test_layout_past_a_write_block(self):
        """A trace of more tokens than a write block holds (trace_format.def;
        some 1,900 tokens with tiny's hidden states): both writers chunk its
        columns in full, not by its length, and the Python writer keeps the
        rows it held before it made the columns."""
        n, L, E, K, D = 3000, 4, 8, 2, 256
        c_trace, py_trace = self.path("gen.h5"), self.path("long.h5")
        promoe("trace", "gen", "-m", "tiny", "--tokens", n, "--requests", "0", "-o", c_trace)
        rng = np.random.default_rng(1)
        experts = rng.integers(0, E, size=(n, L, K)).astype(np.int16)
        hidden = rng.standard_normal((n, L, D)).astype(np.float32)
        w = TraceWriter(py_trace, model="tiny", num_layers=L, num_experts=E, top_k=K,
                        hidden_dim=D, content=("weights", "logits", "hidden", "router_weight"))
        for i, at in enumerate(range(0, n, 700)):  # the block fills in the 3rd append
            m = min(700, n - at)
            w.append(i, np.zeros(m), np.arange(at, at + m), np.ones(m), experts[at:at + m],
                     weights=np.full((m, L, K), 0.5), logits=np.zeros((m, L, E)),
                     hidden=hidden[at:at + m])
        w.add_request(0, 0, n)
        w.set_router_weight(np.zeros((L, E, D)))
        w.commit()
        with h5py.File(c_trace, "r") as c, h5py.File(py_trace, "r") as p:
            for name in ("routing/experts", "routing/weights", "routing/logits", "hidden/input",
                         "tokens/request", "tokens/position", "tokens/phase",
                         "tokens/iteration"):
                self.assertEqual(c[name].chunks, p[name].chunks, name)
                self.assertEqual(p[name].shape[0], n, name)
            self.assertEqual(c["tokens/phase"].chunks, (65536,))
            np.testing.assert_array_equal(p["routing/experts"][...], experts)
            np.testing.assert_array_equal(p["tokens/position"][...], np.arange(n))
            np.testing.assert_array_equal(p["hidden/input"][...], hidden.astype(np.float16))
        self.assertIn("tokens       3000", promoe("trace", "info", py_trace))

    def test_writer_refuses_what_c_refuses(self):
        w = TraceWriter(self.path("w.h5"), model="m", num_layers=2, num_experts=4, top_k=2)
        with self.assertRaises(ValueError):
            w.append(0, [0], [0], [0], np.full((1, 2, 2), 4))  # expert 4 of 4
        w.abort()
        self.assertEqual(os.listdir(self.dir.name), [])


def write_safetensors(path, tensors, metadata):
    """A safetensors file (8-byte header length, JSON header, data), F32:
    Hugging Face's safetensors package is not in Debian."""
    header, blobs, at = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class ImportRouterLogits(Tmp):
    """The same run's router logits, saved as transformers returns them
    (output_router_logits=True: per layer, tokens x experts), import to the
    experts and weights the recorder saw."""

    def setUp(self):
        super().setUp()
        self.model = tiny_moe.build("olmoe", seed=5)
        self.prompts = [torch.tensor([[5, 9, 2, 77, 31, 8, 60]]), torch.tensor([[4, 4, 90, 12]])]
        self.N = 5
        self.recorded = self.path("recorded.h5")
        full = []
        with Recorder(self.model, self.recorded, hidden=False):
            for p in self.prompts:
                full.append(tiny_moe.generate(self.model, p, max_new_tokens=self.N))
        # what the README's lines do: one pass over prompt + output, logits kept
        per_layer = None
        for ids in full:
            with torch.no_grad():
                out = self.model(input_ids=ids, output_router_logits=True)
            logits = [t.numpy() for t in out.router_logits]
            per_layer = logits if per_layer is None else \
                [np.concatenate([a, b]) for a, b in zip(per_layer, logits)]
        self.layers = per_layer
        self.split = "%d:%d,%d:%d" % (7, self.N, 4, self.N)

    def compare(self, imported):
        a, b = read(self.recorded), read(imported)
        key = lambda t: {(int(r), int(p)): i for i, (r, p) in
                         enumerate(zip(t["tokens/request"], t["tokens/position"]))}
        ka, kb = key(a), key(b)
        self.assertEqual(sorted(ka), sorted(kb))
        ia = [ka[k] for k in sorted(ka)]
        ib = [kb[k] for k in sorted(ka)]
        np.testing.assert_array_equal(a["routing/experts"][ia], b["routing/experts"][ib])
        np.testing.assert_allclose(a["routing/weights"][ia], b["routing/weights"][ib],
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(b["requests/prompt_len"], [7, 4])
        np.testing.assert_array_equal(b["requests/output_len"], [self.N - 1] * 2)

    def test_npz_with_split_in_the_file(self):
        src, out = self.path("logits.npz"), self.path("npz.h5")
        np.savez(src, *self.layers, prompt_lens=np.array([7, 4]),
                 output_lens=np.array([self.N, self.N]))
        promoe("trace", "import", "--format", "hf-router-logits", src, "-o", out,
               "-m", "olmoe-1b-7b")
        self.compare(out)

    def test_safetensors_with_split_on_the_command_line(self):
        src, out = self.path("logits.safetensors"), self.path("st.h5")
        write_safetensors(src, {"model.layers.%d.mlp.gate" % l: a
                                for l, a in enumerate(self.layers)}, {})
        promoe("trace", "import", "--format", "hf-router-logits", src, "-o", out,
               "--experts", 64, "--top-k", 8, "--norm-topk-prob", 0, "--split", self.split)
        self.compare(out)


if __name__ == "__main__":
    unittest.main()
