"""What an inpatient stay costs, by front-sheet category (住院费用分类): `stay_costs`.

Amounts are plausible for a county in Zhejiang around 2024: a bed day and nursing cost less
at a township centre than at the county hospital; drugs and tests scale with the length of
stay; an operation brings its fee, anaesthesia (billed with the operation) and surgical
consumables, which for implants (stents, joints) dominate the bill.  Every amount is a
`Decimal` in yuan with two places; categories that cost nothing are left out.
"""

from __future__ import annotations

import random
from decimal import Decimal

from yilian.synth.catalogue import ProcedureSpec

__all__ = ["stay_costs"]

_CENT = Decimal("0.01")
_IMPLANTS = {"36.0700": (9000, 22000), "81.5400": (16000, 32000), "81.5201": (9000, 18000)}


def _yuan(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(_CENT)


def stay_costs(
    rng: random.Random, level: str, days: int, procedure: ProcedureSpec | None, specialty: str
) -> dict[str, Decimal]:
    """Costs of a stay of `days` days at a member of `level`, keyed by
    `ingest.frontsheet.costs.COST_CATEGORIES` keys."""
    scale = 1.0 if level == "county-hospital" else 0.6
    costs: dict[str, float] = {
        "general_medical_service": days * rng.uniform(45, 90) * scale,
        "general_treatment": days * rng.uniform(20, 120) * scale,
        "nursing": days * rng.uniform(25, 45) * scale,
        "laboratory": rng.uniform(180, 350) + days * rng.uniform(20, 80),
        "imaging": rng.uniform(80, 900) * scale,
        "clinical_diagnosis": rng.uniform(30, 300) * scale,
        "western_medicine": days * rng.uniform(60, 420) * scale,
        "consumables_treatment": rng.uniform(40, 400),
        "consumables_examination": rng.uniform(10, 120),
    }
    if rng.random() < 0.5:
        costs["chinese_patent_medicine"] = days * rng.uniform(10, 90)
    if rng.random() < 0.2:
        costs["tcm_treatment"] = rng.uniform(50, 400)
    if rng.random() < 0.3:
        costs["non_surgical_treatment"] = rng.uniform(100, 900)
    if specialty in ("orthopaedics", "rehabilitation") or rng.random() < 0.1:
        costs["rehabilitation"] = days * rng.uniform(40, 150)
    if procedure is not None:
        costs["surgical_treatment"] = rng.uniform(900, 4500) * scale
        low, high = _IMPLANTS.get(procedure.code, (300, 3000))
        costs["consumables_surgery"] = rng.uniform(low, high)
        if rng.random() < 0.08:
            costs["blood"] = rng.uniform(300, 1500)
    if rng.random() < 0.4:
        costs["other"] = rng.uniform(5, 120)
    return {key: _yuan(value) for key, value in costs.items()}
