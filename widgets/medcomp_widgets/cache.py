"""Measured points by slice and setting, so going back to a setting costs nothing.

Figures are small and kept for every point; reconstructions and compressed bytes (0.6 MB for a
512x512 CT slice) only for the most recently used few, and measured again when needed after that.
"""

from __future__ import annotations

import collections

from .measure import Point, Setting

Key = tuple[int, Setting]
KEEP_PIXELS = 24


class PointCache:
    def __init__(self, keep_pixels: int = KEEP_PIXELS):
        self.keep_pixels = keep_pixels
        self._points: dict[Key, Point] = {}
        self._with_pixels: collections.OrderedDict[Key, None] = collections.OrderedDict()

    def get(self, key: Key, pixels: bool = False) -> Point | None:
        """The cached point, or None when there is none (or its pixels were asked for and dropped)."""
        point = self._points.get(key)
        if point is None or (pixels and point.error is None and point.reconstruction is None):
            return None
        if key in self._with_pixels:
            self._with_pixels.move_to_end(key)
        return point

    def put(self, key: Key, point: Point) -> None:
        self._points[key] = point
        if point.reconstruction is None:
            return
        self._with_pixels[key] = None
        self._with_pixels.move_to_end(key)
        while len(self._with_pixels) > self.keep_pixels:
            old, _ = self._with_pixels.popitem(last=False)
            self._points[old] = self._points[old].without_pixels()

    def __len__(self) -> int:
        return len(self._points)
