"""Recorder: attach to a loaded PyTorch MoE model, generate as usual, and
get a promoe trace (format v1) of every token's routing.

    with Recorder(model, "run.h5", model_name="olmoe-1b-7b"):
        model.generate(input_ids, attention_mask=mask, max_new_tokens=64)

The recorder hooks each MoE layer's router (found by the family's module
name, or the modules named in routers=) and wraps model.forward to see each
step's attention mask and cache.  A forward pass with an empty cache is the
prefill of a new batch of requests (one per row, left padding dropped by the
attention mask; each request's prefill is one iteration); a pass with a
cache is a decode step of those requests (one iteration).  Each step is
written as it ends, so nothing of the run is held in memory; the trace
appears, complete, when the recorder is closed.
"""
import torch
import torch.nn.functional as F

from .families import family_of, renormalises, route
from .writer import TraceWriter


def _cache_length(past):
    """Tokens already in a KV cache: HF Cache objects or (key, value) tuples
    shaped [batch, heads, tokens, head_dim]."""
    if past is None:
        return 0
    if hasattr(past, "get_seq_length"):
        return int(past.get_seq_length())
    if len(past) == 0 or past[0] is None or len(past[0]) == 0:
        return 0
    return int(past[0][0].shape[-2])


class Recorder:
    """Records MODEL's routing into a trace at PATH.

    family: mixtral, qwen2_moe, olmoe or deepseek (default: config.model_type);
    routers: module names to hook instead of the family's (each a Linear or a
    module with a .weight [E, D] whose first input is the hidden state);
    renormalise: override the family's top-k renormalisation;
    top_k: experts per token (default config.num_experts_per_tok);
    hidden: record the hidden state entering each router; hidden_every=N keeps
    layers 0, N, 2N, ... (as promoe exec --record-hidden=N); logits: record
    the router logits; model_name: the trace's model attribute (a promoe
    preset name lets promoe check the trace against the model)."""

    def __init__(self, model, path, *, family=None, routers=None, renormalise=None,
                 top_k=None, hidden=True, hidden_every=1, logits=True, model_name=None,
                 dataset="torch", compression="gzip"):
        config = getattr(model, "config", None)
        fam = family_of(model, family) if routers is None or renormalise is None else None
        self.renormalise = renormalises(fam, model) if renormalise is None else renormalise
        modules = dict(model.named_modules())
        if routers is None:
            names = [n for n in modules if n == fam.router_suffix
                     or n.endswith("." + fam.router_suffix)]
            looked_for = "modules named '*.%s' (family %s)" % (fam.router_suffix, fam.name)
        else:
            missing = [n for n in routers if n not in modules]
            if missing:
                raise ValueError("no module named %s in %s" % (", ".join(missing),
                                                                type(model).__name__))
            names, looked_for = list(routers), "the modules named in routers="
        self.routers = [modules[n] for n in names]
        if not self.routers:
            raise ValueError("no MoE router found in %s: looked for %s"
                             % (type(model).__name__, looked_for))
        weights = [getattr(r, "weight", None) for r in self.routers]
        if any(w is None or w.dim() != 2 for w in weights):
            raise ValueError("every router must have a weight of shape [experts, hidden]")
        num_experts, hidden_dim = weights[0].shape
        self.top_k = top_k or getattr(config, "num_experts_per_tok", None)
        if not self.top_k:
            raise ValueError("cannot tell top-k (no config.num_experts_per_tok): pass top_k=")
        self.model, self.L, self.E, self.D = model, len(self.routers), num_experts, hidden_dim
        self.record_hidden, self.record_logits = hidden, logits
        content = ["weights"] + (["logits"] if logits else []) + \
                  (["hidden", "router_weight"] if hidden else [])
        self.writer = TraceWriter(
            path, model=model_name or getattr(config, "_name_or_path", None) or
            (fam.name if fam else type(model).__name__),
            num_layers=self.L, num_experts=num_experts, top_k=self.top_k,
            hidden_dim=hidden_dim if hidden else 0, content=content,
            source="promoe_torch recorder (%s)" % (fam.name if fam else "named routers"),
            hidden_layer_stride=hidden_every, compression=compression)
        if hidden:
            self.writer.set_router_weight(torch.stack([w.detach().float().cpu()
                                                       for w in weights]).numpy())
        self.dataset = dataset
        self.requests = []     # [id, prefill tokens, decode tokens]
        self.active = []       # request index of each batch row
        self.iteration = 0
        self.step = None
        self.hooks = [r.register_forward_hook(self._on_router(l))
                      for l, r in enumerate(self.routers)]
        self.inner_forward = model.forward
        model.forward = self._forward

    # ---- hooks -----------------------------------------------------------

    def _on_router(self, layer):
        def hook(module, inputs, output):
            if self.step is None:
                return  # a router called outside the model's forward
            x = inputs[0].detach()
            x = x.reshape(-1, x.shape[-1])
            if torch.is_tensor(output) and output.shape[-1] == self.E:
                logits = output.detach().reshape(-1, self.E)
            else:
                logits = F.linear(x, module.weight.detach())
            if layer in self.step["layers"]:
                raise RuntimeError("router of layer %d ran twice in one step" % layer)
            self.step["layers"][layer] = (logits.float().cpu(),
                                          x.float().cpu() if self.record_hidden else None)
        return hook

    def _forward(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs["inputs_embeds"][..., 0]
        mask = kwargs.get("attention_mask")
        self.step = {"shape": tuple(ids.shape[:2]), "mask": mask, "layers": {},
                     "prefill": _cache_length(kwargs.get("past_key_values")) == 0}
        try:
            out = self.inner_forward(*args, **kwargs)
            self._write_step()
        finally:
            self.step = None
        return out

    # ---- one step to the trace -------------------------------------------

    def _write_step(self):
        step = self.step
        B, S = step["shape"]
        T = B * S
        experts = torch.full((T, self.L, self.top_k), -1, dtype=torch.int16)
        weights = torch.zeros((T, self.L, self.top_k))
        logits = torch.zeros((T, self.L, self.E))
        hidden = torch.zeros((T, self.L, self.D)) if self.record_hidden else None
        for l, (lg, x) in step["layers"].items():
            if lg.shape[0] != T:
                raise RuntimeError("router of layer %d saw %d tokens in a step of %d"
                                   % (l, lg.shape[0], T))
            e, w = route(lg, self.top_k, self.renormalise)
            experts[:, l], weights[:, l], logits[:, l] = e.to(torch.int16), w, lg
            if hidden is not None:
                hidden[:, l] = x
        mask = step["mask"]
        real = torch.ones((B, S), dtype=torch.bool) if mask is None else \
            mask[:, -S:].detach().cpu().bool()
        if step["prefill"]:
            self.active = []
            for b in range(B):
                rid = len(self.requests)
                self.active.append(rid)
                self.requests.append([rid, 0, 0])
                self._emit([b], [rid], real, S, experts, weights, logits, hidden, phase=0)
        else:
            if len(self.active) != B:
                raise RuntimeError("a decode step of %d rows follows a prefill of %d requests"
                                   % (B, len(self.active)))
            self._emit(range(B), self.active, real, S, experts, weights, logits, hidden,
                       phase=1)

    def _emit(self, rows, rids, real, S, experts, weights, logits, hidden, phase):
        """One iteration: the real tokens of batch rows ROWS (requests RIDS)."""
        index, request, position = [], [], []
        for b, rid in zip(rows, rids):
            req = self.requests[rid]
            at = req[1] + req[2]  # tokens of the request computed so far
            n = 0
            for s in range(S):
                if real[b, s]:
                    index.append(b * S + s)
                    request.append(rid)
                    position.append(at + n)
                    n += 1
            req[1 if phase == 0 else 2] += n
        if not index:
            return
        idx = torch.tensor(index)
        self.writer.append(self.iteration, request, position, [phase] * len(index),
                           experts[idx].numpy(), weights[idx].numpy(),
                           logits[idx].numpy() if self.record_logits else None,
                           hidden[idx].numpy() if hidden is not None else None)
        self.iteration += 1

    # ---- end -------------------------------------------------------------

    def detach(self):
        """Removes the hooks and restores model.forward."""
        for h in self.hooks:
            h.remove()
        self.hooks = []
        if self.model.forward == self._forward:
            self.model.forward = self.inner_forward

    def close(self):
        """Writes the request table and puts the trace in place."""
        self.detach()
        for rid, prompt_len, output_len in self.requests:
            self.writer.add_request(rid, prompt_len, output_len, 0.0, self.dataset)
        self.writer.commit()

    def abort(self):
        self.detach()
        self.writer.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.abort()
        return False
