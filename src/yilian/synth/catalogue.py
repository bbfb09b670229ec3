"""The clinical codes the synthetic alliance uses: diagnoses, procedures, labs, vitals, drugs.

`data/diagnoses.csv` holds 63 common diagnoses of a county's outpatient clinics and wards
with their ICD-10 医保版 2.0 codes and names exactly as the national table (医疗保障疾病诊断
分类与代码 2.0, NHSA; as published in OpenDRG/DRG_Datas) writes them, none of them a 灰码 (a
code the settlement list refuses); beside each: the specialty that sees it, whether it is
seen in clinics or on the wards, the ages and sex it occurs in, a relative frequency, whether
it is chronic or a notifiable infectious disease (法定传染病), the drug (ATC) and lab panels it
usually gets, and for surgical stays the operation.  `data/procedures.csv` holds those
operations with their ICD-9-CM-3 医保版 2.0 codes and names (医疗保障手术操作分类与代码 2.0, same
source), the usual anaesthesia and length of stay.

Labs are LOINC-coded with Chinese names, UCUM units and adult reference ranges; drugs are
ATC-coded with their Chinese generic names (通用名) and a typical dosage.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "ALLERGENS",
    "DRUGS",
    "LAB_PANELS",
    "VITALS",
    "DiagnosisSpec",
    "LabPanel",
    "LabTest",
    "ProcedureSpec",
    "diagnoses",
    "procedures",
]


@dataclass(frozen=True, slots=True)
class DiagnosisSpec:
    code: str
    name: str
    specialty: str
    setting: str  # outpatient | inpatient | both
    min_age: int
    max_age: int
    sex: str  # "" for either
    weight: float
    chronic: bool
    notifiable: bool
    medication: str  # ATC code or ""
    labs: tuple[str, ...]  # LAB_PANELS keys
    procedure: str  # ICD-9-CM-3 code or ""


@dataclass(frozen=True, slots=True)
class ProcedureSpec:
    code: str
    name: str
    anaesthesia: str
    days_min: int
    days_max: int


@dataclass(frozen=True, slots=True)
class LabTest:
    code: str  # LOINC
    name: str
    unit: str  # UCUM; "" for a qualitative result
    low: float | None
    high: float | None
    decimals: int = 1
    abnormal_low: bool = False  # the abnormal direction is low (haemoglobin, HDL)


@dataclass(frozen=True, slots=True)
class LabPanel:
    code: str  # LOINC of the order (the panel, or the test when ordered alone)
    name: str
    tests: tuple[LabTest, ...]


@cache
def diagnoses() -> tuple[DiagnosisSpec, ...]:
    """The diagnoses table, in file order."""
    with resources.files("yilian.synth").joinpath("data/diagnoses.csv").open(encoding="utf-8") as f:
        return tuple(
            DiagnosisSpec(
                row["code"],
                row["name"],
                row["specialty"],
                row["setting"],
                int(row["min_age"]),
                int(row["max_age"]),
                row["sex"],
                float(row["weight"]),
                row["chronic"] == "1",
                row["notifiable"] == "1",
                row["medication"],
                tuple(row["labs"].split()),
                row["procedure"],
            )
            for row in csv.DictReader(f)
        )


@cache
def procedures() -> dict[str, ProcedureSpec]:
    """The operations table by code."""
    with resources.files("yilian.synth").joinpath("data/procedures.csv").open(encoding="utf-8") as f:
        return {
            row["code"]: ProcedureSpec(
                row["code"], row["name"], row["anaesthesia"], int(row["days_min"]), int(row["days_max"])
            )
            for row in csv.DictReader(f)
        }


def _single(test: LabTest) -> LabPanel:
    return LabPanel(test.code, test.name, (test,))


LAB_PANELS: dict[str, LabPanel] = {
    "cbc": LabPanel(
        "58410-2",
        "血常规",
        (
            LabTest("6690-2", "白细胞计数", "10*9/L", 3.5, 9.5),
            LabTest("789-8", "红细胞计数", "10*12/L", 3.8, 5.8, 2, abnormal_low=True),
            LabTest("718-7", "血红蛋白", "g/L", 115, 175, 0, abnormal_low=True),
            LabTest("777-3", "血小板计数", "10*9/L", 125, 350, 0),
        ),
    ),
    "crp": _single(LabTest("1988-5", "C反应蛋白", "mg/L", 0, 10)),
    "glucose": _single(LabTest("14771-0", "空腹血糖", "mmol/L", 3.9, 6.1, 2)),
    "hba1c": _single(LabTest("4548-4", "糖化血红蛋白", "%", 4.0, 6.0)),
    "lipids": LabPanel(
        "57698-3",
        "血脂四项",
        (
            LabTest("14647-2", "总胆固醇", "mmol/L", None, 5.2, 2),
            LabTest("14927-8", "甘油三酯", "mmol/L", None, 1.7, 2),
            LabTest("14646-4", "高密度脂蛋白胆固醇", "mmol/L", 1.04, None, 2, abnormal_low=True),
            LabTest("22748-8", "低密度脂蛋白胆固醇", "mmol/L", None, 3.4, 2),
        ),
    ),
    "renal": LabPanel(
        "24362-6",
        "肾功能",
        (
            LabTest("14682-9", "肌酐", "umol/L", 57, 111, 0),
            LabTest("22664-7", "尿素", "mmol/L", 3.1, 8.0),
            LabTest("14933-6", "尿酸", "umol/L", 208, 428, 0),
        ),
    ),
    "liver": LabPanel(
        "24325-3",
        "肝功能",
        (
            LabTest("1742-6", "丙氨酸氨基转移酶", "U/L", 9, 50, 0),
            LabTest("1920-8", "天门冬氨酸氨基转移酶", "U/L", 15, 40, 0),
            LabTest("14631-6", "总胆红素", "umol/L", 0, 21),
        ),
    ),
    "urine": LabPanel(
        "24356-8",
        "尿常规",
        (
            LabTest("5804-0", "尿蛋白", "", None, None),
            LabTest("5792-7", "尿糖", "", None, None),
            LabTest("5821-4", "尿白细胞", "/[HPF]", 0, 5, 0),
        ),
    ),
    "flu": _single(LabTest("80382-5", "甲型流感病毒抗原", "", None, None)),
    "stool": _single(LabTest("2335-8", "粪便隐血", "", None, None)),
}
"""Lab orders by the key diagnoses.csv names them with."""

QUALITATIVE_ABNORMAL = {"5804-0": "+", "5792-7": "+", "80382-5": "阳性", "2335-8": "阳性"}
"""What a qualitative test reports when abnormal (else "阴性")."""

VITALS = {
    "systolic": ("8480-6", "收缩压", "mm[Hg]"),
    "diastolic": ("8462-4", "舒张压", "mm[Hg]"),
    "pulse": ("8867-4", "心率", "/min"),
    "temperature": ("8310-5", "体温", "Cel"),
    "weight": ("29463-7", "体重", "kg"),
    "height": ("8302-2", "身高", "cm"),
}
"""Vital signs: LOINC, Chinese name, UCUM unit."""

DRUGS: dict[str, tuple[str, str, str]] = {
    "C08CA05": ("硝苯地平控释片", "30mg 每日一次", "口服"),
    "C08CA01": ("苯磺酸氨氯地平片", "5mg 每日一次", "口服"),
    "A10BA02": ("盐酸二甲双胍片", "0.5g 每日两次", "口服"),
    "C10AA05": ("阿托伐他汀钙片", "20mg 每晚一次", "口服"),
    "B01AC06": ("阿司匹林肠溶片", "100mg 每日一次", "口服"),
    "B01AC04": ("硫酸氢氯吡格雷片", "75mg 每日一次", "口服"),
    "C07AB02": ("酒石酸美托洛尔片", "25mg 每日两次", "口服"),
    "C03CA01": ("呋塞米片", "20mg 每日一次", "口服"),
    "C09CA04": ("厄贝沙坦片", "150mg 每日一次", "口服"),
    "R03AC02": ("硫酸沙丁胺醇吸入气雾剂", "100μg 必要时", "吸入"),
    "J01DD04": ("注射用头孢曲松钠", "2g 每日一次", "静脉滴注"),
    "J01CA04": ("阿莫西林胶囊", "0.5g 每日三次", "口服"),
    "J01DC02": ("头孢呋辛酯片", "0.25g 每日两次", "口服"),
    "J01MA12": ("左氧氟沙星片", "0.5g 每日一次", "口服"),
    "J01MA02": ("盐酸环丙沙星片", "0.5g 每日两次", "口服"),
    "J05AH02": ("磷酸奥司他韦胶囊", "75mg 每日两次", "口服"),
    "J05AF10": ("恩替卡韦片", "0.5mg 每日一次", "口服"),
    "J04AM02": ("异烟肼利福平片", "每日一次 空腹", "口服"),
    "R05CB01": ("乙酰半胱氨酸颗粒", "0.2g 每日三次", "口服"),
    "N02BE01": ("对乙酰氨基酚片", "0.5g 必要时", "口服"),
    "M01AE01": ("布洛芬缓释胶囊", "0.3g 每日两次", "口服"),
    "A02BC01": ("奥美拉唑肠溶胶囊", "20mg 每日一次", "口服"),
    "A03FA03": ("多潘立酮片", "10mg 每日三次", "口服"),
    "A06AD11": ("乳果糖口服溶液", "15ml 每日一次", "口服"),
    "A07BC05": ("蒙脱石散", "3g 每日三次", "口服"),
    "A07CA": ("口服补液盐散(III)", "250ml 每次腹泻后", "口服"),
    "B03AA07": ("硫酸亚铁片", "0.3g 每日三次", "口服"),
    "H03AA01": ("左甲状腺素钠片", "50μg 每日一次", "口服"),
    "M05BA04": ("阿仑膦酸钠片", "70mg 每周一次", "口服"),
    "D08AG02": ("聚维酮碘溶液", "外用 每日两次", "外用"),
    "R06AE07": ("盐酸西替利嗪片", "10mg 每日一次", "口服"),
    "H01BB02": ("缩宫素注射液", "10U 产后", "肌内注射"),
    "G01AF01": ("甲硝唑阴道泡腾片", "0.2g 每晚一次", "阴道给药"),
    "S01CA01": ("妥布霉素地塞米松滴眼液", "1滴 每日四次", "滴眼"),
    "S01AE05": ("左氧氟沙星滴眼液", "1滴 每日三次", "滴眼"),
    "R01AD09": ("糠酸莫米松鼻喷雾剂", "每侧2喷 每日一次", "鼻喷"),
    "D07AB02": ("丁酸氢化可的松乳膏", "外用 每日两次", "外用"),
    "N06AB06": ("盐酸舍曲林片", "50mg 每日一次", "口服"),
}
"""ATC code -> (Chinese generic name and form, dosage, route)."""

ALLERGENS: tuple[tuple[str, str, str, str], ...] = (
    ("J01CA", "青霉素类", "medication", "皮疹"),
    ("J01D", "头孢菌素类", "medication", "荨麻疹"),
    ("J01E", "磺胺类", "medication", "皮疹"),
    ("N02BA01", "阿司匹林", "medication", "哮喘发作"),
    ("44027008", "海鲜", "food", "荨麻疹"),
    ("102263004", "鸡蛋", "food", "腹泻"),
    ("256259004", "花粉", "environment", "过敏性鼻炎"),
)
"""(code, substance, category, reaction): drug classes by ATC, the rest by SNOMED CT."""
