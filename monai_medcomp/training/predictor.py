"""Fitting a pixel predictor by regression: Adam on the mean squared error, as the paper trains its MLP.

Used twice: by the codec at encode time (a few epochs on the image being coded) and by the
pretraining script (many epochs on the training pool).  Seeded, so a run can be repeated.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

LEARNING_RATE = 3e-3
BATCH_SIZE = 2048


def fit_regressor(net: nn.Module, features: torch.Tensor, targets: torch.Tensor, *, epochs: int,
                  seconds: float | None = None, learning_rate: float = LEARNING_RATE, batch_size: int = BATCH_SIZE,
                  seed: int = 0, on_epoch: Callable[[], None] | None = None) -> float:
    """Train ``net`` to map ``features`` (n, f) to ``targets`` (n,); return the last epoch's mean loss.

    Stops after ``epochs`` epochs or, when ``seconds`` is given, at the first epoch end past it; ``on_epoch``
    is called at each epoch's end.
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = nn.MSELoss()
    count = len(targets)
    start = time.perf_counter()
    mean_loss = math.nan
    net.train()
    for _ in range(epochs):
        order = torch.randperm(count, generator=generator).to(features.device)
        total = torch.zeros((), device=features.device)
        for first in range(0, count, batch_size):
            batch = order[first:first + batch_size]
            loss = loss_fn(net(features[batch])[:, 0], targets[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.detach() * len(batch)
        mean_loss = float(total) / count
        if on_epoch is not None:
            on_epoch()
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
    net.eval()
    return mean_loss
