"""The front sheet's cost categories (住院费用), after the national inpatient front-sheet data
set (卫生部《住院病案首页》2011 and its data standard): ten classes, several split into items.

Each category has a stable English key (column headers, Claim item codes, the synthetic
generator's `Encounter.costs`) and its Chinese name as the front sheet prints it.  The total
(住院总费用) is not a category: it is the sum, and a row whose total disagrees with its
categories is reported.
"""

from __future__ import annotations

__all__ = ["COST_CATEGORIES", "COST_CATEGORY_NAMES"]

COST_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("general_medical_service", "一般医疗服务费"),
    ("general_treatment", "一般治疗操作费"),
    ("nursing", "护理费"),
    ("comprehensive_other", "综合医疗服务类其他费用"),
    ("pathology", "病理诊断费"),
    ("laboratory", "实验室诊断费"),
    ("imaging", "影像学诊断费"),
    ("clinical_diagnosis", "临床诊断项目费"),
    ("non_surgical_treatment", "非手术治疗项目费"),
    ("surgical_treatment", "手术治疗费"),
    ("rehabilitation", "康复费"),
    ("tcm_treatment", "中医治疗费"),
    ("western_medicine", "西药费"),
    ("chinese_patent_medicine", "中成药费"),
    ("chinese_herbal_medicine", "中草药费"),
    ("blood", "血费"),
    ("blood_products", "血液制品类费"),
    ("consumables_examination", "检查用一次性医用材料费"),
    ("consumables_treatment", "治疗用一次性医用材料费"),
    ("consumables_surgery", "手术用一次性医用材料费"),
    ("other", "其他费"),
)
"""(key, Chinese name) in the front sheet's order."""

COST_CATEGORY_NAMES = dict(COST_CATEGORIES)
