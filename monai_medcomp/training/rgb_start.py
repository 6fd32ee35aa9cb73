"""Start an RGB block model from its codec's trained grey model.

Trained from scratch on the pool's few RGB images in a CPU budget, an RGB model ends up worse than
the grey model coding each plane alone.  So it starts as the grey model applied to the block's mean
plane instead, and training only has to learn what the extra latent channels add:

* the image input layer (one grey input channel) sees each colour through a third of its weights;
* the image output layer (one grey output channel) writes the same plane to all three colours;
* a layer that makes latent channels keeps the grey model's channels first, its freshly initialised
  ones after them; a layer that reads latent channels reads the grey ones and gives the new ones zero
  weight, so at the start they change nothing;
* every layer of the same shape in both models (the hidden ones) is copied.

The rules only look at shapes (an image side has one grey channel; a latent side has the grey model's
count, three times over in RGB), so they serve every family of :mod:`..codecs`.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

COLOURS = 3


def start_from_grey(network: nn.Module, grey_state: Mapping[str, torch.Tensor]) -> None:
    """Load ``grey_state`` (the grey model's ``state_dict``) into the RGB ``network`` by the rules above."""
    transposed = {f"{name}.weight" for name, module in network.named_modules()
                  if isinstance(module, nn.modules.conv._ConvTransposeNd)}
    state = network.state_dict()
    for key, target in state.items():
        if key not in grey_state:
            raise ValueError(f"the grey model has no {key!r}: it is not this RGB model's family")
        source = grey_state[key].to(target.dtype)
        if source.shape == target.shape:
            state[key] = source.clone()
            continue
        if source.ndim != target.ndim:
            raise ValueError(f"{key!r}: grey shape {tuple(source.shape)} does not widen to {tuple(target.shape)}")
        out_axis, in_axis = (1, 0) if key in transposed else (0, 1)
        widened = _widen(source, target, out_axis, produces=True)
        if target.ndim > 1:
            widened = _widen(widened, target, in_axis, produces=False)
        state[key] = widened
    network.load_state_dict(state)


def _widen(source: torch.Tensor, target: torch.Tensor, axis: int, produces: bool) -> torch.Tensor:
    """``source`` grown along ``axis`` to ``target``'s size there (the other axes as ``source`` has them)."""
    grey, rgb = source.shape[axis], target.shape[axis]
    if grey == rgb:
        return source
    if rgb != COLOURS * grey:
        raise ValueError(f"a grey axis of {grey} does not widen to {rgb}")
    if grey == 1:  # the image side: one plane for the three colours
        copies = torch.cat([source] * COLOURS, dim=axis)
        return copies if produces else copies / COLOURS
    fresh = target[tuple(slice(grey, rgb) if i == axis else slice(0, n) for i, n in enumerate(source.shape))]
    extra = fresh.clone() if produces else torch.zeros_like(fresh)
    return torch.cat([source, extra], dim=axis)
