"""What the bootc builders share with the demo image builder: build-sealed-image.py
(its file name has dashes) loaded as a module, and the folders they run from."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

_spec = importlib.util.spec_from_file_location("build_sealed_image", os.path.join(HERE, "build-sealed-image.py"))
bsi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bsi)
