"""The repository explains itself: no pointer to documents outside it, and every reference to
a section of docs/method.md names a section that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
THIS = Path(__file__).resolve()

# pointers to documents that are not part of the repository
FORBIDDEN = (
    ("SPEC", re.compile(r"\bSPEC\b")),
    ("FIGURES.md", re.compile(re.escape("FIGURES.md"))),
    ("../shared", re.compile(re.escape("../shared"))),
)
# "docs/method.md §3", "docs/method.md §2-§4, §6", "docs/method.md §2 and §4"
METHOD_REFERENCE = re.compile(r"docs/method\.md((?:(?:\s*(?:,|-|–|and|or|to)\s*|\s+)?§\d+)+)")
SECTION_NUMBER = re.compile(r"§(\d+)")
# headings of docs/method.md: "## 3. Finite-time Lyapunov exponent"
SECTION_HEADING = re.compile(r"^## (\d+)\. \S", re.MULTILINE)


def _text_files() -> list[tuple[str, str]]:
    """(path relative to the root, text) of every tracked text file, and of docs/method.md
    (read from disk: it may not be tracked yet); binary and missing files are skipped."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    names = sorted({name for name in listed.decode().split("\0") if name} | {"docs/method.md"})
    files = []
    for name in names:
        path = ROOT / name
        if not path.is_file() or path.resolve() == THIS:
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        files.append((name, data.decode("utf-8", errors="replace")))
    return files


def _sections() -> set[int]:
    return {int(n) for n in SECTION_HEADING.findall(METHOD.read_text(encoding="utf-8"))}


def test_no_pointer_to_documents_outside_the_repository():
    found = [
        f"{name}:{number}: {label}: {line.strip()}"
        for name, text in _text_files()
        for number, line in enumerate(text.splitlines(), start=1)
        for label, pattern in FORBIDDEN
        if pattern.search(line)
    ]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


def test_method_has_numbered_sections():
    assert METHOD.is_file(), "docs/method.md is missing"
    sections = _sections()  # 1, 2, ... with none missing: §1-§9 the paper's, §10- what came after
    assert len(sections) >= 9 and sections == set(range(1, max(sections) + 1)), f"sections: {sorted(sections)}"


def test_every_method_reference_names_an_existing_section():
    sections = _sections()
    bad, count = [], 0
    for name, text in _text_files():
        for number, line in enumerate(text.splitlines(), start=1):
            refs = [int(n) for m in METHOD_REFERENCE.finditer(line) for n in SECTION_NUMBER.findall(m.group(1))]
            if name == "docs/method.md":  # inside the document, a bare "§N" refers to its own sections
                refs += [int(n) for n in SECTION_NUMBER.findall(line)]
            count += len(refs)
            bad += [f"{name}:{number}: §{n} is not a section of docs/method.md" for n in refs if n not in sections]
    assert not bad, "\n".join(bad)
    assert count > 0, "no reference to docs/method.md found: the pattern is broken"


def test_method_references_are_recognised():
    """The reference pattern reads every form the repository uses."""
    forms = {
        "(docs/method.md §3)": [3],
        "(docs/method.md §2-§4, §6)": [2, 4, 6],  # a range by its ends
        "see docs/method.md §1 and §2.": [1, 2],
        "(docs/method.md §7; the paper's Figs. 13-17)": [7],
        "docs/method.md §12": [12],
    }
    for line, expected in forms.items():
        refs = [int(n) for m in METHOD_REFERENCE.finditer(line) for n in SECTION_NUMBER.findall(m.group(1))]
        assert refs == expected, (line, refs)
