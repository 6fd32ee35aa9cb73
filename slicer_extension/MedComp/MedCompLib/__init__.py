"""The MedComp module's logic without its GUI: MRML volume nodes <-> Volumes, compression runs with
progress and cancel, the figures table and the ``.mcz`` reader and writer.

Everything here works with the real MRML scene both inside Slicer and outside it (PyPI's
``slicer-core``), which is how the tests exercise it.
"""
