"""Every link between the repository's Markdown documents leads somewhere: the file exists
and, when the link names a section (``file.md#section``), that file has a heading whose
GitHub anchor is that name."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _documents() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "*.md"], cwd=ROOT, capture_output=True, check=True).stdout
    names = {name for name in listed.decode().split("\0") if name}
    names |= {str(p.relative_to(ROOT)) for p in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("docs/*.md")]}
    return sorted(ROOT / name for name in names if (ROOT / name).is_file())


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def _links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text()))


def test_the_anchor_rule():
    assert anchor("What the numbers look like (rerun the commands to check)") == (
        "what-the-numbers-look-like-rerun-the-commands-to-check"
    )
    assert anchor("Current figures, 2026-11-30") == "current-figures-2026-11-30"
    assert anchor("The `figures` command") == "the-figures-command"


@pytest.mark.parametrize("document", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path):
    broken = []
    for target in _links(document):
        if re.match(r"[a-z]+:", target):  # http:, mailto: ...: not followed here
            continue
        name, _, section = target.partition("#")
        path = (document.parent / name).resolve() if name else document
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        elif section and path.suffix == ".md" and section not in _anchors(path):
            broken.append(f"{target}: no heading with the anchor #{section} in {path.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)
