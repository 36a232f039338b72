"""HOTLINE_CONSULT_RING_S: the consultative transfer's ring time (callcenter/settings.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callcenter.settings import Settings


def test_consult_ring_defaults_to_30_s_and_takes_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().consult_ring_s == 30
    monkeypatch.setenv("HOTLINE_CONSULT_RING_S", "45")
    assert Settings().consult_ring_s == 45
    assert Settings(consult_ring_s=300).consult_ring_s == 300


@pytest.mark.parametrize("value", [0, -5, 301, 3600])
def test_consult_ring_outside_1_to_300_s_is_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="HOTLINE_CONSULT_RING_S must be between 1 and "
                                              f"300 seconds, not {value}"):
        Settings(consult_ring_s=value)
