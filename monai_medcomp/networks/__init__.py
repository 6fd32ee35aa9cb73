"""torch modules of the learned codecs (no files, no bitstreams)."""

from .mlp import CausalPredictorMLP

__all__ = ["CausalPredictorMLP"]
