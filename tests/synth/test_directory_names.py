"""The alliance's members and the names of its residents."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
from typer.testing import CliRunner

from yilian.cli.main import app
from yilian.synth import names
from yilian.synth.directory import credit_code, directory


def test_credit_code_check_characters_match_the_standard_example() -> None:
    # the worked example of GB 32100-2015's appendix
    assert credit_code("350100", "M000100Y", prefix="91") == "91350100M000100Y43"


def test_directory_keeps_the_demo_codes_and_links_parents() -> None:
    d = directory(40, 1)
    codes = [i.code for i in d.institutions]
    assert codes[:3] == ["county-hospital", "dongshan-thc", "baishui-thc"]
    assert len(set(codes)) == 40 and len({i.facility for i in d.institutions}) == 40
    assert d.institutions[0].facility == "QXXRMYY"
    for inst in d.institutions[1:]:
        assert inst.parent in codes and len(inst.org_code) == 18
        assert d.institution(inst.parent).level != inst.level
    assert any(i.code.endswith("-vc") for i in d.institutions)
    for inst in d.institutions:
        assert any(dep.institution == inst.code for dep in d.departments)
        assert any(p.institution == inst.code and p.role == "doctor" for p in d.practitioners)
    assert directory(40, 1) == d


def test_surname_readings_and_homophones() -> None:
    readings = {s: p for s, p, _ in names.SURNAMES + names.COMPOUND_SURNAMES}
    assert (readings["单"], readings["曾"], readings["解"], readings["欧阳"]) == (
        "Shan",
        "Zeng",
        "Xie",
        "Ouyang",
    )
    rng = random.Random(3)
    drawn = [names.surname(rng)[0] for _ in range(20_000)]
    assert drawn.count("王") > drawn.count("马") > drawn.count("单")
    assert any(len(s) == 2 for s in drawn)  # compound surnames occur
    changed = names.homophone(rng, "丽明")
    assert changed and changed != "丽明" and names.given_pinyin(changed) == names.given_pinyin("丽明")
    assert names.traditional("陈国华") == "陳國華"


def test_cli_refuses_bad_arguments_and_writes_a_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, message in (
        (["--patients", "0"], "--patients must be 1..1,000,000"),
        (["--institutions", "201"], "--institutions must be 1..200"),
        (["--formats", "fhir,xml"], "unknown format xml"),
    ):
        result = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "x").exists()
    done = runner.invoke(
        app, ["synth", "--out", str(tmp_path / "ok"), "--patients", "12", "--institutions", "2"]
    )
    assert done.exit_code == 0, done.output
    assert "12 persons" in done.output
    manifest = orjson.loads((tmp_path / "ok" / "manifest.json").read_bytes())
    assert manifest["persons"] == 12 and manifest["institutions"] == ["county-hospital", "dongshan-thc"]
