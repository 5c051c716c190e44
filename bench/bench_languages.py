"""Does a voice keep its identity across languages? (issue 17, Done-means 3)

For each voice (bundled ones, and one enrolled from an English reference),
render sentences in English, Spanish and French with the built-in engine and
compare speaker embeddings (Resemblyzer, ``voicecast.evaluation``):

- en-en: two disjoint sets of English sentences against each other (the
  voice's own ceiling in this measure);
- es-en, fr-en: a set in that language against each English set (the mean).

The bar: es-en and fr-en at least 0.8 of en-en, for every voice.

    .venv/bin/python bench/bench_languages.py --out bench/results/languages.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicecast import evaluation  # noqa: E402

SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        ("The harbor lights came on one by one.", "She folded the map and put it away.",
         "Nobody expected the storm to arrive so early.", "We walked along the river until sunset."),
        ("The old clock in the hall stopped at noon.", "He wrote three letters and mailed none of them.",
         "The bakery on the corner opens before dawn.", "Please leave the window open tonight."),
    ),
    "es": (
        ("Las luces del puerto se encendieron una a una.", "Ella dobló el mapa y lo guardó.",
         "Nadie esperaba que la tormenta llegara tan pronto.", "Caminamos junto al río hasta el atardecer."),
        (),
    ),
    "fr": (
        ("Les lumières du port s'allumèrent une à une.", "Elle plia la carte et la rangea.",
         "Personne ne s'attendait à ce que l'orage arrive si tôt.",
         "Nous avons marché le long de la rivière jusqu'au coucher du soleil."),
        (),
    ),
}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", default="jf_alpha,jm_kumo", help="bundled voices, comma-separated")
    ap.add_argument("--reference", type=Path, default=ROOT / "examples" / "reference.wav",
                    help="an English clip to enroll a voice from (none: --reference '')")
    ap.add_argument("--budget", type=float, default=60.0, help="enrollment search budget, seconds")
    ap.add_argument("--out", type=Path, default=None, help="write a markdown table here")
    args = ap.parse_args()

    from voicecast.audio import read_wav
    from voicecast.localfs import claim_process_tempdir
    from voicecast.settings import get_settings
    from voicecast.storage import LocalStore
    from workers.engines import get_engine
    from workers.voices import builtin_profile, search_profile, speak

    claim_process_tempdir()
    settings = get_settings()
    engine = get_engine(settings.engine)
    sr = engine.capabilities.sample_rate
    import tempfile

    store = LocalStore(Path(tempfile.mkdtemp(prefix="voicecast-bench-")))
    profiles = {}
    for name in [v for v in args.voices.split(",") if v]:
        profile = builtin_profile(engine, name, store)
        if profile is None:
            raise SystemExit(f"no bundled voice {name!r}")
        profiles[name] = profile
    if str(args.reference) and args.reference.is_file():
        audio, ref_sr = read_wav(args.reference)
        t0 = time.perf_counter()
        profiles[f"enrolled ({args.reference.name})"], _ = search_profile(
            engine, audio, ref_sr, budget_s=args.budget, seed=1)
        print(f"enrolled {args.reference.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    def embed(profile: object, lang: str, sentences: tuple[str, ...]) -> np.ndarray:
        audio = np.concatenate([speak(engine, profile, s, language=lang)  # type: ignore[arg-type]
                                for s in sentences])
        return evaluation.speaker_embedding(audio, sr)

    rows = []
    for name, profile in profiles.items():
        en_a, en_b = embed(profile, "en-us", SETS["en"][0]), embed(profile, "en-us", SETS["en"][1])
        ceiling = _cos(en_a, en_b)
        row = {"voice": name, "en-en": ceiling}
        for lang in ("es", "fr"):
            e = embed(profile, lang, SETS[lang][0])
            row[f"{lang}-en"] = (_cos(e, en_a) + _cos(e, en_b)) / 2
            row[f"{lang} ratio"] = row[f"{lang}-en"] / ceiling
        rows.append(row)
        print(row, file=sys.stderr)

    head = ("| voice | en-en | es-en | es / en-en | fr-en | fr / en-en |\n"
            "| --- | --- | --- | --- | --- | --- |\n")
    body = "".join(f"| {r['voice']} | {r['en-en']:.3f} | {r['es-en']:.3f} | {r['es ratio']:.2f} | "
                   f"{r['fr-en']:.3f} | {r['fr ratio']:.2f} |\n" for r in rows)
    ok = all(r["es ratio"] >= 0.8 and r["fr ratio"] >= 0.8 for r in rows)
    text = ("# A voice across languages (`bench/bench_languages.py`)\n\n"
            "Resemblyzer cosine similarity of a voice's renders: two sets of four English sentences "
            "against each other (en-en, the voice's own ceiling), and four Spanish or French sentences "
            "against each English set (the mean). The bar is 0.8 of en-en.\n\n"
            f"{head}{body}\nEvery voice at or above 0.8 in both languages: {'yes' if ok else 'NO'}.\n\n"
            f"Engine: {engine.name} {engine.version}. Rerun:\n\n```\n.venv/bin/python "
            f"bench/bench_languages.py --out bench/results/languages.md\n```\n")
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
