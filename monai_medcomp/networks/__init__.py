"""torch modules of the learned codecs (no files, no bitstreams)."""

from .mlp import AnchoredMLP, CausalPredictorMLP

__all__ = ["AnchoredMLP", "CausalPredictorMLP"]
