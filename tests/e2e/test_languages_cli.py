"""Beyond English (issue 17): a Spanish SRT and a French EPUB chapter rendered
with the built-in engine, in a bundled voice and in a voice enrolled from an
English reference; languages the engine cannot speak are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiocheck import decode, make_srt, onsets

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"  # Allison, English
SR = 16000

SPANISH = ["Buenos días, señora García.", "El tren sale a las 14:30 del andén 2.",
           "Compré 3 libros por 25 euros.", "Nos vemos el 12 de marzo en Madrid.",
           "¿Quieres un café con leche?"]
FRENCH = ["Le matin, la ville dormait encore sous la brume.",
          "Marie avait 23 ans quand elle arriva à Paris, le 1er mai.",
          "Elle acheta du pain, du fromage et deux pommes pour 7 euros.",
          "Le soir, les lumières du port s'allumaient une à une."]


def cli(env: dict[str, str], *args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def report_of(stdout: str) -> dict:
    summary = json.loads(stdout)
    return json.loads(Path(summary["fit_report_url"].split("file://", 1)[1]).read_text())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    # One data folder: the enrolled voice is enrolled once ("nearest": the bundled voice
    # closest to the reference, with its equaliser; the full search is bench/eval_clone.py's).
    return {**base, "VOICECAST_DATA_DIR": str(tmp_path_factory.mktemp("data")), "VOICECAST_WORKERS": "2",
            "VOICECAST_ENROLL__METHOD": "nearest"}


def french_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("vc-fr-1")
    book.set_title("La Ville")
    book.set_language("fr")
    book.add_author("Jeanne Auteur")
    doc = epub.EpubHtml(uid="c1", file_name="c1.xhtml", title="Le matin", lang="fr")
    doc.content = ("<html><body><h1>Le matin</h1>" + "".join(f"<p>{s}</p>" for s in FRENCH)
                   + "</body></html>")
    book.add_item(doc)
    book.toc = [epub.Link(doc.file_name, doc.title, doc.id)]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", doc]
    epub.write_epub(str(path), book)
    return path


def _voiced(audio: np.ndarray, a: float, b: float) -> float:
    """RMS (dBFS) of ``audio`` between ``a`` and ``b`` seconds."""
    x = audio[int(a * SR):int(b * SR)]
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)) if x.size else -200.0


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["jf_alpha", "enrolled"])
def test_a_spanish_dub_lands_on_its_cues(env: dict[str, str], tmp_path: Path, voice: str) -> None:
    srt = tmp_path / "escena.es.srt"  # the language from the name: no --lang
    cues = make_srt(srt, SPANISH, chars_per_s=10.0, gap=1.2)
    out = tmp_path / "escena.wav"
    proc = cli(env, "render", srt, "--voice", REFERENCE if voice == "enrolled" else voice, "--out", out,
               "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    audio = decode(out, SR)
    found = onsets(audio, SR, [c.start for c in cues])
    print(f"es ({voice}): onsets - cues (ms):", [round((f - c.start) * 1000) for f, c in zip(found, cues,
                                                                                               strict=True)])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)
    rows = report_of(proc.stdout)["segments"]
    assert [r["lang"] for r in rows] == ["es"] * len(cues)
    for r in rows:  # none silent, none cut
        assert not r["overflow"] and r["final_s"] > 0.5, r
        assert _voiced(audio, r["placed_start_s"], r["placed_end_s"]) > -40.0, r


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["jm_kumo", "enrolled"])
def test_a_french_epub_chapter_is_read_in_french(env: dict[str, str], tmp_path: Path, voice: str) -> None:
    book = french_epub(tmp_path / "ville.epub")
    out = tmp_path / "ville.m4b"
    proc = cli(env, "render", book, "--voice", REFERENCE if voice == "enrolled" else voice, "--out", out,
               "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = report_of(proc.stdout)["segments"]
    assert rows and all(r["lang"] == "fr" for r in rows), [r["lang"] for r in rows]
    chars = sum(len(s) for s in FRENCH)
    spoken = sum(r["final_s"] for r in rows)
    # Read whole: about 10-20 characters a second of French speech, no line silent or cut.
    assert chars / 25 < spoken < chars / 8, (spoken, chars)
    assert all(r["final_s"] > 0.4 and not r["overflow"] for r in rows), rows


@pytest.mark.parametrize(("lang", "said"), [("ja", "Japanese"), ("de", "German"), ("xx", "not a language"),
                                           ("pt-PT", "speaks only Portuguese (Brazil) (pt-BR), not "
                                                     "Portuguese (Portugal) (pt-PT)")])
def test_a_language_the_engine_cannot_speak_is_refused(env: dict[str, str], tmp_path: Path, lang: str,
                                                       said: str) -> None:
    srt = tmp_path / "a.srt"
    make_srt(srt, ["Hello there."])
    out = tmp_path / "a.wav"
    proc = cli(env, "render", srt, "--voice", "jf_alpha", "--lang", lang, "--out", out, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and said in line[0] and "--lang" in line[0], proc.stderr[-2000:]
    if lang in ("ja", "de"):  # the languages it speaks are named
        assert "Spanish (es)" in line[0] and "French (fr" in line[0], line
    assert not out.exists()


@pytest.mark.slow
def test_a_line_tagged_in_another_language_is_spoken_in_it(env: dict[str, str], tmp_path: Path) -> None:
    srt = tmp_path / "mixed.srt"
    cues = make_srt(srt, ["She turned to the waiter.", "[lang:fr] Un café, s'il vous plaît.",
                          "And then she waited."], chars_per_s=10.0, gap=1.2)
    out = tmp_path / "mixed.wav"
    proc = cli(env, "render", srt, "--voice", "jf_alpha", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = report_of(proc.stdout)["segments"]
    assert [r["lang"] for r in rows] == ["en", "fr", "en"]
    assert rows[1]["text"] == "Un café, s'il vous plaît."
    audio = decode(out, SR)
    found = onsets(audio, SR, [c.start for c in cues])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)


@pytest.mark.slow
def test_a_characters_language_and_the_lexicons_languages(env: dict[str, str], tmp_path: Path) -> None:
    """``--lang PIERRE=fr`` speaks Pierre's lines in French (a line's own tag
    still wins); a lexicon's ``[lang:fr]`` section and a ``--lexicon fr=FILE``
    apply to the French lines only; ``plan`` shows each line's language."""
    srt = tmp_path / "cafe.srt"
    cues = make_srt(srt, ["ANNA: Welcome to Geneva, Pierre.", "PIERRE: Merci. Genève est belle.",
                          "[lang:en] PIERRE: I love Geneva."], chars_per_s=10.0, gap=1.2)
    every, french = tmp_path / "words.lexicon", tmp_path / "fr.lexicon"
    every.write_text("Geneva = jeneeva\n[lang:fr]\nGenève = /ʒənˈɛv/\n", encoding="utf-8")
    french.write_text("merci = mèrci\n", encoding="utf-8")
    args = ("--lang", "Pierre=fr", "--lexicon", every, "--lexicon", f"fr={french}")

    plan = cli(env, "plan", srt, *args, "--json", timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    lines = json.loads(plan.stdout)["segments"]
    assert [(g["speaker"], g["language"]) for g in lines] == [("ANNA", "en"), ("PIERRE", "fr"), ("PIERRE", "en")]
    assert [g["text"] for g in lines] == ["Welcome to jeneeva, Pierre.", "mèrci. ⟦ʒənˈɛv⟧ est belle.",
                                          "I love jeneeva."]

    out = tmp_path / "cafe.wav"
    proc = cli(env, "render", srt, "--voice", "jf_alpha", *args, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = report_of(proc.stdout)["segments"]
    assert [r["lang"] for r in rows] == ["en", "fr", "en"]
    assert all(r["final_s"] > 0.4 and not r["overflow"] for r in rows), rows
    audio = decode(out, SR)
    found = onsets(audio, SR, [c.start for c in cues])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)


def test_lang_over_what_the_input_says_warns(env: dict[str, str], tmp_path: Path) -> None:
    """``--lang`` wins over the language an input declares, with a warning
    naming both: a subtitle file's name and a book's front matter."""
    srt = tmp_path / "escena.es.srt"
    make_srt(srt, ["Buenos días."])
    book = tmp_path / "ville.md"
    book.write_text("---\ntitle: La Ville\nlanguage: fr\n---\n\n# Le matin\n\nLa ville dormait encore.\n",
                    encoding="utf-8")
    for path, lang, said in ((srt, "fr", "Spanish (es)"), (book, "es", "French (fr)")):
        proc = cli(env, "plan", path, "--lang", lang, "--json", timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        plan = json.loads(proc.stdout)
        assert plan["language"] == lang and {g["language"] for g in plan["segments"]} == {lang}
        warned = [w for w in plan["warnings"] if "as --lang asks" in w]
        assert len(warned) == 1 and said in warned[0] and str(path) in warned[0], plan["warnings"]
