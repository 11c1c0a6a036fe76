"""The layers of ARCHITECTURE.md, read from the source: no module imports a package above
its own (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ate"
# lowest first; a package may import its own layer and those before it
LAYERS = [{"errors", "config", "checkpoint", "folder_lock", "usage_errors", "__init__",
           "__version__"},
          {"data"}, {"training"}, {"align"}, {"steer"}, {"policies"}, {"finetune"},
          {"sim"}, {"bench"}, {"commands", "cli", "__main__"}]


def layer(name: str) -> int:
    found = [i for i, members in enumerate(LAYERS) if name in members]
    assert found, f"ate.{name} is in no layer: place it in LAYERS (and ARCHITECTURE.md)"
    return found[0]


def imported(path: Path) -> set[str]:
    """The first component under ``ate`` of every ``ate.*`` import in ``path``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "ate" and len(parts) > 1:
                out.add(parts[1])
            elif parts[0] == "ate" and isinstance(node, ast.ImportFrom):
                out.update(a.name for a in node.names)
    return out


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        own = layer(rel.parts[0] if len(rel.parts) > 1 else rel.stem)
        upward += [f"{rel} imports ate.{name}" for name in sorted(imported(path))
                   if layer(name) > own]
    assert not upward, upward
