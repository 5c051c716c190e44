"""The layer rule by module *string*: what import-linter (``make lint``) cannot see.

The import graph covers ``import`` statements. A module can also be reached by a
string: a Celery ``include``/``imports`` list, ``importlib.import_module(...)``,
``__import__``, or a ``"package.module:attr"`` registry entry. This scans the source
of the core (``voicecast``) and the synthesis role (``workers``) for string literals
that name a module of a layer above them. Docstrings and prose are not module paths:
only a literal that is wholly a dotted path (optionally ``:attr``) counts, and a bare
package name counts when it is handed to an import function or an include list.
Celery task names such as ``"voicecast.record_segment"`` live in the core's
namespace and are fine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: For each scanned layer, the packages above it that it must never name.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "voicecast": ("orchestrator", "workers"),
    "workers": ("orchestrator",),
}

#: Calls whose string arguments are module paths.
_IMPORT_CALLS = {"import_module", "__import__", "find_spec", "autodiscover_tasks", "run_module"}
#: Keyword arguments whose strings are module paths (Celery: include=, imports=).
_IMPORT_KEYWORDS = {"include", "imports", "module", "package"}


def _module_path_re(packages: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(map(re.escape, packages))
    # "pkg.mod", "pkg.mod.sub", "pkg:attr", "pkg.mod:Class.attr"
    return re.compile(rf"(?:{names})(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_][\w.]*)?")


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def offending_strings(source: str, packages: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, literal) for every string in ``source`` used as a module path into ``packages``."""
    tree = ast.parse(source)
    pattern = _module_path_re(packages)
    found: set[tuple[int, str]] = set()
    # Strings in an import context: a bare package name counts there too.
    for node in ast.walk(tree):
        args: list[ast.AST] = []
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args += list(node.args) if name in _IMPORT_CALLS else []
            args += [kw.value for kw in node.keywords if kw.arg in _IMPORT_KEYWORDS]
        elif isinstance(node, ast.Assign):  # app.conf.imports = [...], include = [...]
            targets = [t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "") for t in node.targets]
            if _IMPORT_KEYWORDS.intersection(targets):
                args.append(node.value)
        for arg in args:
            for const in _strings(arg):
                text = const.value.strip()
                if pattern.fullmatch(text) or any(text.startswith(p + ".") for p in packages):
                    found.add((const.lineno, const.value))
    # Anywhere else, only a literal that is wholly a dotted path or a "module:attr" entry
    # (a bare word like "workers" may be a settings field or a dict key).
    for const in _strings(tree):
        text = const.value.strip()
        if pattern.fullmatch(text) and ("." in text or ":" in text):
            found.add((const.lineno, const.value))
    return sorted(found)


def test_scanner_finds_module_strings_and_ignores_prose() -> None:
    source = '''
"""Docstring naming orchestrator.dispatch in prose is fine."""
import importlib
from celery import Celery
app = Celery("x", include=["voicecast.tasks", "orchestrator.tasks"])
app.conf.imports = ("workers",)
importlib.import_module("orchestrator")
mod = __import__("orchestrator.cli")
REGISTRY = {"kokoro": "orchestrator.voices:Registry"}
settings = {"workers": 4}
TASK = "voicecast.record_segment"
note = "see orchestrator.dispatch for details"
'''
    hits = [text for _, text in offending_strings(source, ("orchestrator",))]
    assert hits == ["orchestrator.tasks", "orchestrator", "orchestrator.cli", "orchestrator.voices:Registry"]
    assert [t for _, t in offending_strings(source, ("workers",))] == ["workers"]  # conf.imports


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_module_strings_name_a_higher_layer(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no source found under {ROOT / layer}"
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in files
        for line, text in offending_strings(path.read_text(encoding="utf-8"), FORBIDDEN[layer])
    ]
    assert problems == [], f"{layer} names a higher layer by module string:\n" + "\n".join(problems)
