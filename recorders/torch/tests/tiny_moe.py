"""Small MoE causal language models in plain torch, shaped and named as the
Hugging Face families are (module names, router semantics, call convention),
so the recorder can be tested without transformers or downloaded weights.

Each family keeps its real layer count, expert count and top-k; only the
widths are small.  Every MoE block also keeps the expert sets it actually
used, in model.chosen[layer], so tests can check the recorder against what
the model did rather than against the recorder's own arithmetic.
"""
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {  # model_type: layers, experts, top-k, renormalise, preset
    "mixtral": dict(layers=32, experts=8, top_k=2, norm=True),
    "qwen2_moe": dict(layers=24, experts=60, top_k=4, norm=False),
    "olmoe": dict(layers=16, experts=64, top_k=8, norm=False),
    "deepseek": dict(layers=28, experts=64, top_k=6, norm=False, first_dense=1),
}


def make_config(model_type, hidden=32, vocab=101, heads=2, **over):
    s = dict(SHAPES[model_type], **over)
    c = types.SimpleNamespace(model_type=model_type, hidden_size=hidden, vocab_size=vocab,
                              num_attention_heads=heads, num_hidden_layers=s["layers"],
                              num_experts_per_tok=s["top_k"], norm_topk_prob=s["norm"],
                              first_k_dense_replace=s.get("first_dense", 0),
                              intermediate_size=2 * hidden)
    if model_type == "mixtral":
        c.num_local_experts = s["experts"]
    else:
        c.num_experts = s["experts"]
        c.n_routed_experts = s["experts"]
    return c


class MLP(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoEGate(nn.Module):
    """DeepSeek's router: a bare weight, returning (ids, weights, aux)."""

    def __init__(self, c):
        super().__init__()
        self.top_k, self.norm = c.num_experts_per_tok, c.norm_topk_prob
        self.weight = nn.Parameter(torch.randn(c.n_routed_experts, c.hidden_size) * 0.5)

    def forward(self, hidden_states):
        h = hidden_states.reshape(-1, hidden_states.shape[-1])
        scores = F.linear(h, self.weight).softmax(dim=-1, dtype=torch.float32)
        w, ids = torch.topk(scores, k=self.top_k, dim=-1, sorted=False)
        if self.norm:
            w = w / w.sum(dim=-1, keepdim=True)
        return ids, w, None


class SparseMoE(nn.Module):
    """Mixtral's block_sparse_moe, Qwen-MoE's / OLMoE's / DeepSeek's mlp."""

    def __init__(self, c, chosen):
        super().__init__()
        E = getattr(c, "num_local_experts", None) or c.num_experts
        self.family, self.top_k, self.norm, self.chosen = c.model_type, c.num_experts_per_tok, \
            c.norm_topk_prob, chosen
        if c.model_type == "deepseek":
            self.gate = MoEGate(c)
        else:
            self.gate = nn.Linear(c.hidden_size, E, bias=False)
            nn.init.normal_(self.gate.weight, std=0.5)
        self.experts = nn.ModuleList(MLP(c.hidden_size, c.intermediate_size) for _ in range(E))
        if c.model_type == "qwen2_moe":
            self.shared_expert = MLP(c.hidden_size, c.intermediate_size)
            self.shared_expert_gate = nn.Linear(c.hidden_size, 1, bias=False)

    def forward(self, x):
        B, S, D = x.shape
        h = x.reshape(-1, D)
        if self.family == "deepseek":
            ids, w, _ = self.gate(x)
        else:
            router_logits = self.gate(h)
            probs = F.softmax(router_logits, dim=1, dtype=torch.float)
            w, ids = torch.topk(probs, self.top_k, dim=-1)
            if self.norm:
                w = w / w.sum(dim=-1, keepdim=True)
        self.chosen.append(ids.detach().clone())
        out = torch.zeros_like(h)
        for t in range(h.shape[0]):
            for j in range(self.top_k):
                out[t] += w[t, j].to(h.dtype) * self.experts[int(ids[t, j])](h[t])
        if self.family == "qwen2_moe":
            out = out + torch.sigmoid(self.shared_expert_gate(h)) * self.shared_expert(h)
        return out.reshape(B, S, D)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.hd = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        D = c.hidden_size
        self.q_proj, self.k_proj = nn.Linear(D, D, bias=False), nn.Linear(D, D, bias=False)
        self.v_proj, self.o_proj = nn.Linear(D, D, bias=False), nn.Linear(D, D, bias=False)

    def forward(self, x, mask, past):
        B, S, D = x.shape
        q, k, v = (p(x).view(B, S, self.h, self.hd).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        total = k.shape[2]
        allowed = torch.ones(S, total, dtype=torch.bool).tril(total - S)
        allowed = allowed[None, None] & mask[:, None, None, :].bool()
        att = (q @ k.transpose(-1, -2)) / self.hd ** 0.5
        att = att.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)
        return self.o_proj((att @ v).transpose(1, 2).reshape(B, S, D)), (k, v)


class Layer(nn.Module):
    def __init__(self, c, index, chosen):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c.hidden_size)
        self.post_attention_layernorm = nn.LayerNorm(c.hidden_size)
        self.self_attn = Attention(c)
        moe = index >= c.first_k_dense_replace
        block = SparseMoE(c, chosen) if moe else MLP(c.hidden_size, c.intermediate_size)
        setattr(self, "block_sparse_moe" if c.model_type == "mixtral" else "mlp", block)
        self.ffn = block

    def forward(self, x, mask, past):
        a, kv = self.self_attn(self.input_layernorm(x), mask, past)
        x = x + a
        return x + self.ffn(self.post_attention_layernorm(x)), kv


class Backbone(nn.Module):
    def __init__(self, c, chosen):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(
            Layer(c, i, chosen[max(i - c.first_k_dense_replace, 0)])
            for i in range(c.num_hidden_layers))
        self.norm = nn.LayerNorm(c.hidden_size)


class TinyMoEForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        moe_layers = c.num_hidden_layers - c.first_k_dense_replace
        self.chosen = [[] for _ in range(moe_layers)]
        self.model = Backbone(c, self.chosen)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, use_cache=True,
                output_router_logits=False):
        if attention_mask is None:
            past = 0 if past_key_values is None else past_key_values[0][0].shape[2]
            attention_mask = torch.ones(input_ids.shape[0], past + input_ids.shape[1])
        x = self.model.embed_tokens(input_ids)
        router_logits, cache = [], []
        hooks = []
        if output_router_logits:
            for layer in self.model.layers:
                if isinstance(layer.ffn, SparseMoE):
                    hooks.append(layer.ffn.gate.register_forward_hook(
                        lambda m, i, o: router_logits.append(
                            F.linear(i[0].reshape(-1, i[0].shape[-1]), m.weight))))
        for i, layer in enumerate(self.model.layers):
            x, kv = layer(x, attention_mask,
                          None if past_key_values is None else past_key_values[i])
            cache.append(kv)
        for h in hooks:
            h.remove()
        return types.SimpleNamespace(logits=self.lm_head(self.model.norm(x)),
                                     past_key_values=tuple(cache),
                                     router_logits=tuple(router_logits))


def build(model_type, seed=0, **over):
    torch.manual_seed(seed)
    return TinyMoEForCausalLM(make_config(model_type, **over)).eval()


@torch.no_grad()
def generate(model, input_ids, attention_mask=None, max_new_tokens=4):
    """Greedy generation, called as transformers' generate calls a model:
    keyword arguments, the cache handed back each step, the mask grown."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    ids, past, step_ids = input_ids, None, input_ids
    for _ in range(max_new_tokens):
        out = model(input_ids=step_ids, attention_mask=attention_mask, past_key_values=past,
                    use_cache=True)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        past, step_ids = out.past_key_values, nxt
        attention_mask = torch.cat([attention_mask, torch.ones_like(nxt)], dim=1)
        if ids.shape[1] - input_ids.shape[1] == max_new_tokens:
            break
    return ids
