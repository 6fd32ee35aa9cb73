"""The MRML volume node classes MedComp codes.

Kept apart from :mod:`.nodes` because it imports nothing: Slicer asks the ``.mcz`` writer whether it
can write each node every time the Save Data dialog opens, before the library may be installed.
"""

SCALAR, LABEL, VECTOR = "vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode", "vtkMRMLVectorVolumeNode"
NODE_CLASSES = (SCALAR, LABEL, VECTOR)
