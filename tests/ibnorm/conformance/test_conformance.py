"""One contract for every backend and grouping: each sample input (``samples.py``) through torch's own op,
an independent fp64 reference (``reference.py``) and every backend of ibnorm (auto, the C kernel, the
torch backend, the composite, Triton through its interpreter; BatchNorm/GroupNorm/InstanceNorm through
the composite), every compression and order; ``harness.check_sample`` states the contract. A test
passes when the list of disagreements is empty."""
from __future__ import annotations

import pytest
from harness import check_sample, triton_available
from samples import GROUPINGS, samples_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = [s for g in GROUPINGS for s in samples_for(g)]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_backend_keeps_the_contract(sample):
    problems = check_sample(sample, triton_ok=triton_available())
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:40])
