"""The conformance suite runs the Triton kernels through Triton's interpreter (no GPU here): the variable
must be set before ``ibnorm.kernels.triton_rowwise`` is first imported (``triton.jit`` reads it when a
kernel is decorated). ``setdefault`` keeps an explicit ``TRITON_INTERPRET=0`` (the Triton column is then
skipped). ``tests/ibnorm`` is put on the path for the shared tolerance table."""
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
