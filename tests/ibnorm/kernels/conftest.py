"""Run the Triton kernels through Triton's interpreter on CPU tensors (no GPU here).

``triton.jit`` reads ``TRITON_INTERPRET`` when a kernel is *decorated*, i.e. when
``ibnorm.kernels.triton_rowwise`` is first imported (the dispatch imports it lazily), so setting the
variable at collection time, before any test imports that module, is enough. ``setdefault`` keeps an
explicit ``TRITON_INTERPRET=0`` (then the interpreter tests skip; the GPU test runs compiled kernels in
a subprocess).
"""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")
