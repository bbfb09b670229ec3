"""Write docs/configuration.md from the settings' own defaults and meanings (yilian.config).

    .venv/bin/python tools/gen_config_docs.py

tests/cli/test_configuration_docs.py fails when the file and the settings differ.
"""

from __future__ import annotations

from pathlib import Path

from yilian.config import settings_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

if __name__ == "__main__":
    DOC.write_text(settings_reference(), encoding="utf-8")
    print(f"wrote {DOC}")
