"""
The repository's documentation stands on its own: every relative link of every tracked Markdown file resolves to a
file (or folder) of the repository, every in-page anchor exists, and no tracked file refers to design notes that are
not in the repository.
"""
import os
import re
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# names of notes that live outside the repository (spelled in two parts so that this file does not match itself)
PRIVATE_NOTES = ["METHODS" + ".md", "METHODS" + " §", "EVAL_" + "PROTOCOLS", "INSTALL_" + "FACTS", "STYLE" + ".md",
                 "STYLE" + " §", "TEAM_" + "BRIEF", "shared/" + "design"]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if os.path.isfile(os.path.join(REPO, f))]


def markdown_files():
    return [f for f in tracked_files() if f.endswith(".md")]


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set:
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


def links(path: str):
    """(line number, target) of every inline link outside code blocks."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    in_code = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
                yield number, m.group(1)


def test_github_anchor_matches_githubs_rule():
    # "## 1.9 OPL choices" -> "19-opl-choices"; "Status and measured figures" -> "status-and-measured-figures"
    assert github_anchor("1.9 OPL choices") == "19-opl-choices"
    assert github_anchor("Status and measured figures") == "status-and-measured-figures"
    assert github_anchor("A. Our environment (fresh machine, no Detectron2 yet)") == \
        "a-our-environment-fresh-machine-no-detectron2-yet"


def test_there_are_markdown_files_with_relative_links():
    # guards the test below against silently checking nothing (e.g. git unavailable, regex broken)
    found = [t for f in markdown_files() for _, t in links(os.path.join(REPO, f)) if "://" not in t]
    assert len(markdown_files()) >= 8 and len(found) >= 20


@pytest.mark.parametrize("md", markdown_files())
def test_every_relative_link_resolves(md):
    path = os.path.join(REPO, md)
    broken = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not resolved.startswith(REPO + os.sep) or not os.path.exists(resolved):
            broken.append(f"{md}:{number}: {target} (no such file in the repository)")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(f"{md}:{number}: {target} (no heading with anchor #{anchor})")
    assert not broken, "\n".join(broken)


def test_no_tracked_file_mentions_notes_outside_the_repository():
    hits = []
    for f in tracked_files():
        try:
            with open(os.path.join(REPO, f), encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:  # images, binary fixtures
            continue
        for number, line in enumerate(text.splitlines(), 1):
            hits += [f"{f}:{number}: {name}" for name in PRIVATE_NOTES if name in line]
    assert not hits, "\n".join(hits)
