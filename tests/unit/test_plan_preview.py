"""``voicecast plan``: the preview planned as a render plans, nothing stored,
and predictions through the dispatch adapter (a stand-in here: no engine)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from orchestrator.cli import build_parser
from orchestrator.options import RenderOptions
from orchestrator.preview import preview
from orchestrator.render import plan_input
from orchestrator.store.db import ensure_schema
from voicecast.errors import InputError, VoiceError
from voicecast.queue import EngineFacts, LinePrediction, LineSlot
from voicecast.settings import Settings

SRT = """1
00:00:01,000 --> 00:00:03,000
<i>Hello</i> there.

2
00:00:03,500 --> 00:00:04,000
[happy] This line is far too long for its little slot.

3
00:00:05,000 --> 00:00:07,000
A line that is a little fast.
"""


class FakeDispatcher:
    """The adapter's planning side: engine facts and predictions, recorded."""

    def __init__(self, answers: list[LinePrediction] | None = None) -> None:
        self.asked: list[tuple[str | None, str | None, list[LineSlot]]] = []
        self.answers = answers

    def facts(self) -> EngineFacts:
        return EngineFacts(name="fake", version="1", sample_rate=24000, voices=("fv_one",),
                           phoneme_symbols=frozenset())

    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]:
        self.asked.append((profile_key, builtin, lines))
        if self.answers is not None:
            return self.answers
        return [LinePrediction(natural_s=1.0, target_s=1.0, rate=1.0) for _ in lines]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "data")
    s.data_dir.mkdir()
    ensure_schema(s, auto_upgrade=True)
    return s


def _srt(tmp_path: Path) -> Path:
    p = tmp_path / "t.srt"
    p.write_text(SRT, encoding="utf-8")
    return p


def test_plan_takes_renders_options_and_no_output(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["plan", "x.srt", "--emotion", "calm", "--unmapped", "narrator", "--json"])
    assert (args.voice, args.emotion, args.unmapped, args.json) == (None, "calm", "narrator", True)
    render_opts = {a.dest for a in parser._subparsers._group_actions[0].choices["render"]._actions}
    plan_opts = {a.dest for a in parser._subparsers._group_actions[0].choices["plan"]._actions}
    assert render_opts - plan_opts == {"out", "detach", "priority"}
    with pytest.raises(SystemExit):
        parser.parse_args(["plan", "x.srt", "--out", "y.wav"])


def test_preview_without_a_voice_plans_and_predicts_nothing(settings: Settings, tmp_path: Path) -> None:
    d = FakeDispatcher()
    p = preview(settings, _srt(tmp_path), RenderOptions.from_cli(voice_required=False), d)
    out = json.loads(json.dumps(p.as_dict()))
    assert out["kind"] == "dub" and out["chapters"] == [] and not out["predicted"]
    segs = out["segments"]
    assert [g["text"] for g in segs][0] == "Hello there."  # as it will be spoken: no markup
    assert (segs[1]["emotion"], segs[1]["start_s"], segs[1]["end_s"]) == ("happy", 3.5, 4.0)
    assert all(g["chapter"] is None and g["voice"] is None and g["predicted_s"] is None for g in segs)
    assert isinstance(out["warnings"], list)
    assert d.asked == []


def test_preview_with_a_builtin_voice_asks_the_adapter_and_flags_lines(settings: Settings,
                                                                       tmp_path: Path) -> None:
    answers = [
        LinePrediction(natural_s=1.5, target_s=1.875, rate=0.8),
        LinePrediction(natural_s=3.0, target_s=2.14, rate=1.4, borrowed_s=0.5, overflow=True,
                       overflow_s=1.1, fast=True),
        LinePrediction(natural_s=2.6, target_s=2.0, rate=1.3, fast=True),
    ]
    d = FakeDispatcher(answers)
    p = preview(settings, _srt(tmp_path), RenderOptions.from_cli(voices=["fv_one"]), d)
    (key, builtin, lines), = d.asked
    assert (key, builtin) == (None, "fv_one")
    assert [(ln.slot_s, ln.max_s) for ln in lines] == [(2.0, 2.5), (0.5, 1.5), (2.0, 2.0)]
    assert lines[1].emotion == "happy" and lines[1].text.startswith("This line")
    out = p.as_dict()
    assert out["predicted"] and out["voices"] == {"narrator": "fv_one"}
    assert [g["predicted_s"] for g in out["segments"]] == [1.5, 3.0, 2.6]
    assert [g["rate"] for g in out["segments"]] == [0.8, 1.4, 1.3]
    assert out["flagged"] == {"overflow": [1], "fast": [2]}
    assert [g.idx for g in p.flagged()] == [1, 2]
    # Nothing stored: no job, no segment, no voice (a render stores the built-in voice's row).
    with sqlite3.connect(settings.data_dir / "voicecast.db") as c:
        assert c.execute("select count(*) from jobs").fetchone() == (0,)
        assert c.execute("select count(*) from segments").fetchone() == (0,)
        assert c.execute("select count(*) from voices").fetchone() == (0,)


def test_an_unknown_voice_is_the_renders_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="unknown voice 'nobody'.*fv_one"):
        preview(settings, _srt(tmp_path), RenderOptions.from_cli(voices=["nobody"]), FakeDispatcher())


def test_a_reference_clip_never_enrolled_is_not_enrolled(settings: Settings, tmp_path: Path) -> None:
    clip = tmp_path / "me.wav"
    clip.write_bytes(b"RIFF not really audio")
    d = FakeDispatcher()
    p = preview(settings, _srt(tmp_path), RenderOptions.from_cli(voices=[str(clip)]), d)
    assert d.asked == [] and not p.predicted
    assert any("me.wav is a reference clip not enrolled yet" in w for w in p.warnings)


def test_a_book_lists_its_chapters(settings: Settings, tmp_path: Path) -> None:
    md = tmp_path / "b.md"
    md.write_text("# The Book\n\n## One\n\nFirst words here.\n\n## Two\n\nSecond words. More of them.\n",
                  encoding="utf-8")
    out = preview(settings, md, RenderOptions.from_cli(voice_required=False), FakeDispatcher()).as_dict()
    assert out["kind"] == "audiobook"
    titles = [c["title"] for c in out["chapters"]]
    assert titles[-2:] == ["One", "Two"]
    assert sum(c["segments"] for c in out["chapters"]) == len(out["segments"])
    assert all(g["chapter"] is not None and g["start_s"] is None for g in out["segments"])


def test_plan_input_raises_the_renders_input_errors(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 --> 00:00:02,500\nHello.\n\n2\n00:00:03,000 -> 00:00:04\nBroken.\n")
    with pytest.raises(InputError) as e:
        plan_input(settings, bad, RenderOptions.from_cli(voice_required=False), FakeDispatcher(),
                   need_voices=False)
    assert e.value.exit_code == 2 and "bad.srt" in str(e.value)


def test_distributed_predict_is_one_answer_task_on_the_synth_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.dispatch import CeleryDispatcher

    sent: list[tuple[str, tuple[object, ...]]] = []

    def ask(self: CeleryDispatcher, task: str, *args: object, timeout_s: float = 120.0) -> object:
        sent.append((task, args))
        return [LinePrediction(natural_s=1.2, target_s=1.0, rate=1.2).to_dict()]

    monkeypatch.setattr(CeleryDispatcher, "_ask", ask)
    found = CeleryDispatcher(Settings()).predict("voices/x/1.npz", None, [LineSlot(text="Hi.", slot_s=1.0)])
    assert found == [LinePrediction(natural_s=1.2, target_s=1.0, rate=1.2)]
    ((task, args),) = sent
    assert task == "voicecast.predict_lines"
    assert args[:2] == ("voices/x/1.npz", None) and args[2] == [LineSlot(text="Hi.", slot_s=1.0).to_dict()]
    # The names the control role sends are the names the synthesis role registers.
    tasks = Path(__file__).resolve().parents[2] / "workers" / "tasks.py"
    assert "voicecast.predict_lines" in tasks.read_text(encoding="utf-8")
