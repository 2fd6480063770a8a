"""How each model family names its routers and turns router logits into
experts and gate weights, as the families' own modelling code does.

A family is found from model.config.model_type.  Every family here takes a
softmax over the router logits in float32, then the top-k by probability;
they differ in whether the k chosen weights are renormalised to sum to 1
(Mixtral always; Qwen-MoE, OLMoE and DeepSeek when config.norm_topk_prob).
"""
import collections

Family = collections.namedtuple("Family", "name router_suffix renormalise")

# model_type -> rule.  renormalise: True, False, or "config" (norm_topk_prob).
FAMILIES = {
    "mixtral": Family("mixtral", "block_sparse_moe.gate", True),
    "qwen2_moe": Family("qwen2_moe", "mlp.gate", "config"),
    "olmoe": Family("olmoe", "mlp.gate", "config"),
    "deepseek": Family("deepseek", "mlp.gate", "config"),
}


def family_of(model, name=None):
    """The family named, or the one model.config.model_type names."""
    if name is None:
        name = getattr(getattr(model, "config", None), "model_type", None)
        if name is None:
            raise ValueError("cannot tell the model's family (it has no config.model_type): "
                             "pass family= one of %s, or routers=[module names]"
                             % ", ".join(sorted(FAMILIES)))
    if name not in FAMILIES:
        raise ValueError("unknown model family %r (known: %s); pass routers=[module names] "
                         "and renormalise= for another model" % (name, ", ".join(sorted(FAMILIES))))
    return FAMILIES[name]


def renormalises(family, model):
    """Whether the family, as this model is configured, renormalises the top-k."""
    if family.renormalise == "config":
        return bool(getattr(getattr(model, "config", None), "norm_topk_prob", False))
    return family.renormalise


def route(logits, top_k, renormalise):
    """Experts in rank order and their gate weights from router logits [n, E]
    (a torch tensor): softmax in float32, top-k, renormalised if asked."""
    import torch
    probs = torch.softmax(logits.float(), dim=-1)
    weights, experts = torch.topk(probs, top_k, dim=-1, sorted=True)
    if renormalise:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return experts, weights
