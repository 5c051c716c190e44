"""The engine registry keys instances by their settings (a stand-in engine; no model)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import workers.engines as engines
from voicecast.errors import VoicecastError
from voicecast.settings import EngineSettings


def es(name: str = "standin", **kw: Any) -> EngineSettings:
    # Built without validation: the settings may restrict ``name`` to the real engines.
    return EngineSettings.model_construct(name=name, **kw)


class StandInEngine:
    """Records the settings it was built with; nothing else."""

    name = "standin"
    version = "0"

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(engines._REGISTRY, "standin", f"{__name__}:StandInEngine")
    monkeypatch.setattr(engines, "_loaded", type(engines._loaded)())
    yield


def test_same_settings_give_the_same_instance() -> None:
    a = engines.get_engine(es(threads=2))
    b = engines.get_engine(es(threads=2))
    assert a is b
    assert isinstance(a, StandInEngine) and a.settings.threads == 2


def test_different_settings_give_different_instances() -> None:
    one = engines.get_engine(es(threads=1))
    four = engines.get_engine(es(threads=4))
    assert one is not four
    # Each keeps the settings it was asked for (the first caller's do not stick).
    assert isinstance(one, StandInEngine) and one.settings.threads == 1
    assert isinstance(four, StandInEngine) and four.settings.threads == 4


def test_the_registry_is_bounded_least_recently_used_first() -> None:
    first = engines.get_engine(es(threads=1))
    for n in range(2, 2 + engines.MAX_ENGINES):
        engines.get_engine(es(threads=n))
    assert len(engines._loaded) == engines.MAX_ENGINES
    # The first was evicted: asking again builds a new instance.
    assert engines.get_engine(es(threads=1)) is not first


def test_recent_use_keeps_an_instance() -> None:
    first = engines.get_engine(es(threads=1))
    engines.get_engine(es(threads=2))
    assert engines.get_engine(es(threads=1)) is first  # now most recent
    engines.get_engine(es(threads=3))  # evicts threads=2 when bound is 2
    assert engines.get_engine(es(threads=1)) is first


def test_unknown_engine_names_the_setting() -> None:
    with pytest.raises(VoicecastError, match="unknown engine 'nope'") as e:
        engines.get_engine(es("nope"))
    assert e.value.field == "engine.name"
