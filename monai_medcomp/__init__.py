"""MedComp: learned and classical compression of medical images, with what each codec costs in quality.

>>> import monai_medcomp as mc
>>> result = mc.compress("ct.dcm", "ct.mcz", codec="jpegls")        # lossless, bit-exact
>>> volume = mc.decompress("ct.mcz")                                 # pixels + geometry + DICOM tags
"""

from .api import CompressionResult, compress, decompress, info, read, write
from .codecs import codec_names, get_codec
from .errors import MedCompError
from .volume import Volume

__version__ = "0.1.0"

__all__ = ["CompressionResult", "MedCompError", "Volume", "codec_names", "compress", "decompress", "get_codec",
           "info", "read", "write", "__version__"]
