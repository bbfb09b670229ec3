"""docs/configuration.md is generated from `Settings`; it must say what the code does."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from yilian.config import Settings, settings_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_is_what_the_settings_say() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_reference(), (
        "docs/configuration.md is out of date: run .venv/bin/python tools/gen_config_docs.py"
    )


def test_every_setting_has_a_meaning_and_a_row() -> None:
    text = DOC.read_text(encoding="utf-8")
    for f in fields(Settings):
        assert len(f.metadata.get("doc", "")) > 10, f"{f.name} has no meaning"
        assert f"| `{f.name}` | `YILIAN_{f.name.upper()}` |" in text
