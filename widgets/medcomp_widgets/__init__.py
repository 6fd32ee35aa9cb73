"""MedComp in a notebook: ``RateQualityExplorer(source)`` compares codecs on a scan, slice by slice.

>>> from medcomp_widgets import RateQualityExplorer
>>> RateQualityExplorer("ct.dcm", codecs=["jpegls", "jpegxl", "jpeg"])  # displays itself
"""

from .explorer import RateQualityExplorer

__all__ = ["RateQualityExplorer"]
