"""The typed Evidence contract: series with named axes, validation rows, regime maps, JSON round trips."""
import json
import math

import numpy as np
import pytest

from ibnorm_verify.verification.evidence import Evidence, RegimeCell, RegimeMap, Series, ValidationRow, Verdict
from ibnorm_verify.verification.verdict import check_direction


def test_series_shape_is_checked_against_its_coords():
    with pytest.raises(ValueError, match="shape"):
        Series("s", ("a", "b"), {"a": [1, 2], "b": ["x"]}, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no coords"):
        Series("s", ("a",), {}, np.zeros(0))


def test_series_selection_by_label():
    s = Series("lip", ("gain", "depth"), {"gain": [1.5, 2.0], "depth": [2, 4, 6]},
               np.arange(6.0).reshape(2, 3), unit="nats")
    assert s.sel(gain=2.0).values.tolist() == [3.0, 4.0, 5.0]
    assert s.sel(gain=1.5, depth=4).item() == 1.0
    with pytest.raises(KeyError, match="not a coordinate"):
        s.sel(gain=3.0)
    with pytest.raises(KeyError, match="no dims"):
        s.sel(width=3)


def test_series_from_records_fills_unmeasured_cells_with_nan():
    recs = [{"g": 1, "seed": 0, "v": 1.0}, {"g": 2, "seed": 1, "v": 2.0}]
    s = Series.from_records("v", recs, ("g", "seed"), "v")
    assert s.values[0, 0] == 1.0 and math.isnan(s.values[0, 1]) and s.values[1, 1] == 2.0


def test_evidence_round_trip_with_series_rows_and_regimes():
    s = Series("x", ("k",), {"k": ["a", "b"]}, [1.0, math.inf])
    row = ValidationRow("est", "case", truth=1.0, estimate=1.01, passed=True, criterion="|error| <= 0.05")
    c = check_direction("c", 1.0, (0.5, 1.5), greater_than=0, cell={"k": "a"})
    ev = Evidence("id", "p", "t", "s", "paper", Verdict.SUPPORTED, "ok", checks=[c], series={"x": s},
                  validation=[row], regimes=RegimeMap(("k",), [RegimeCell({"k": "a"}, Verdict.SUPPORTED, "ok", ["c"])]))
    back = Evidence.from_dict(json.loads(ev.to_json()))
    assert back.series["x"].values[1] == math.inf and back.series["x"].coords == {"k": ["a", "b"]}
    assert back.validation[0] == row and back.validation[0].error == pytest.approx(0.01)
    assert back.regimes.cells[0].verdict is Verdict.SUPPORTED and back.checks[0].cell == {"k": "a"}
    assert back.checks[0].p_support == pytest.approx(c.p_support)


def test_newer_schema_is_refused():
    d = Evidence("id", "p", "t", "s", "paper", Verdict.SUPPORTED, "ok").to_dict()
    d["schema_version"] = 99
    with pytest.raises(ValueError, match="schema version"):
        Evidence.from_dict(d)
