"""One-call IBNorm for third-party model libraries; each submodule imports its library on first use.

* :mod:`ibnorm.integrations.transformers`: ``apply_ibnorm(model or family, compression=..., lam=...)``,
  ``from_pretrained`` (keeps the IBNorm choice across ``save_pretrained``);
* :mod:`ibnorm.integrations.timm`: ``register_norm_layers()`` (timm ``norm_layer`` names such as
  ``"ib_layernorm"``) and ``apply_ibnorm(model, ...)``.

``convert_norms`` (in :mod:`ibnorm`) works on models of any library without these.
"""
__all__: list[str] = []
