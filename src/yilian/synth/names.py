"""Chinese personal names for the synthetic alliance, and the ways a registration desk gets them wrong.

Surnames are drawn with the weights of the published surname rankings: the order of the top
100 follows the Ministry of Public Security's 2020 household-register report (公安部户政管理
研究中心《二〇二〇年全国姓名报告》), and the shares (per cent of the population, rounded) follow
the Chinese Academy of Sciences survey of 2006 (袁义达 et al., 1.28 billion people), the most
recent published percentages; compound surnames (复姓) come at their small real rates (each
well under 0.01 %; together about 0.03 %, raised tenfold here so a county of a few thousand
people still has some).  The numbers are approximations of the published tables, not a copy.

Surname readings are written out instead of taken from a dictionary, because several common
surnames read differently as surnames (单 Shan, 曾 Zeng, 解 Xie, 仇 Qiu, 区 Ou, 朴 Piao, 查 Zha,
盖 Ge, 覃 Qin, 缪 Miao); given names use `pypinyin`, toneless, one syllable per character.

The desk's mistakes: `homophone` swaps a character for another with the same toneless pinyin
(丽/莉/立, 伟/薇/卫, 明/鸣/铭: what a clerk types from hearing a name), `typo` for one that
looks alike (己/已, 玉/王), `traditional` writes the traditional forms (what an ID card reader
of a Hong Kong or Taiwan visitor, or an old system, gives).
"""

from __future__ import annotations

import random
from bisect import bisect
from functools import lru_cache
from itertools import accumulate

from pypinyin import Style, lazy_pinyin

from yilian.synth.model import Sex

__all__ = [
    "COMPOUND_SURNAMES",
    "SURNAMES",
    "given_name",
    "given_pinyin",
    "homophone",
    "surname",
    "traditional",
    "typo",
]

# (surname, pinyin, per cent): 2020 ranking order, 2006 survey shares (see the docstring).
SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("王", "Wang", 7.25), ("李", "Li", 7.19), ("张", "Zhang", 6.83), ("刘", "Liu", 5.38),
    ("陈", "Chen", 4.53), ("杨", "Yang", 3.08), ("黄", "Huang", 2.23), ("赵", "Zhao", 2.29),
    ("吴", "Wu", 2.05), ("周", "Zhou", 2.05), ("徐", "Xu", 1.67), ("孙", "Sun", 1.54),
    ("马", "Ma", 1.45), ("朱", "Zhu", 1.26), ("胡", "Hu", 1.31), ("郭", "Guo", 1.15),
    ("何", "He", 1.16), ("林", "Lin", 1.14), ("高", "Gao", 1.00), ("罗", "Luo", 0.84),
    ("郑", "Zheng", 0.79), ("梁", "Liang", 0.71), ("谢", "Xie", 0.71), ("宋", "Song", 0.68),
    ("唐", "Tang", 0.68), ("许", "Xu", 0.62), ("韩", "Han", 0.61), ("邓", "Deng", 0.57),
    ("冯", "Feng", 0.56), ("曹", "Cao", 0.55), ("彭", "Peng", 0.54), ("曾", "Zeng", 0.52),
    ("肖", "Xiao", 0.49), ("田", "Tian", 0.49), ("董", "Dong", 0.47), ("潘", "Pan", 0.45),
    ("袁", "Yuan", 0.45), ("蔡", "Cai", 0.43), ("蒋", "Jiang", 0.43), ("余", "Yu", 0.42),
    ("于", "Yu", 0.41), ("杜", "Du", 0.40), ("叶", "Ye", 0.40), ("程", "Cheng", 0.40),
    ("魏", "Wei", 0.39), ("苏", "Su", 0.38), ("吕", "Lyu", 0.37), ("丁", "Ding", 0.37),
    ("任", "Ren", 0.36), ("卢", "Lu", 0.35), ("姚", "Yao", 0.34), ("沈", "Shen", 0.34),
    ("钟", "Zhong", 0.33), ("姜", "Jiang", 0.33), ("崔", "Cui", 0.32), ("谭", "Tan", 0.31),
    ("陆", "Lu", 0.30), ("范", "Fan", 0.29), ("汪", "Wang", 0.29), ("廖", "Liao", 0.28),
    ("石", "Shi", 0.28), ("金", "Jin", 0.27), ("韦", "Wei", 0.26), ("贾", "Jia", 0.26),
    ("夏", "Xia", 0.25), ("付", "Fu", 0.25), ("方", "Fang", 0.25), ("邹", "Zou", 0.24),
    ("熊", "Xiong", 0.24), ("白", "Bai", 0.23), ("孟", "Meng", 0.23), ("秦", "Qin", 0.23),
    ("邱", "Qiu", 0.22), ("侯", "Hou", 0.22), ("江", "Jiang", 0.22), ("尹", "Yin", 0.21),
    ("薛", "Xue", 0.21), ("闫", "Yan", 0.20), ("段", "Duan", 0.20), ("雷", "Lei", 0.20),
    ("龙", "Long", 0.19), ("黎", "Li", 0.19), ("史", "Shi", 0.19), ("陶", "Tao", 0.18),
    ("贺", "He", 0.18), ("毛", "Mao", 0.17), ("郝", "Hao", 0.17), ("顾", "Gu", 0.17),
    ("龚", "Gong", 0.16), ("邵", "Shao", 0.16), ("万", "Wan", 0.16), ("覃", "Qin", 0.15),
    ("武", "Wu", 0.15), ("钱", "Qian", 0.15), ("戴", "Dai", 0.15), ("严", "Yan", 0.14),
    ("莫", "Mo", 0.14), ("孔", "Kong", 0.13), ("向", "Xiang", 0.13), ("常", "Chang", 0.13),
    ("单", "Shan", 0.05), ("解", "Xie", 0.04), ("仇", "Qiu", 0.02), ("查", "Zha", 0.02),
    ("盖", "Ge", 0.02), ("缪", "Miao", 0.03), ("区", "Ou", 0.01), ("朴", "Piao", 0.01),
)  # fmt: skip
"""The top 100 surnames and a few whose surname reading differs from the common one."""

COMPOUND_SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("欧阳", "Ouyang", 0.08), ("司马", "Sima", 0.03), ("诸葛", "Zhuge", 0.03), ("上官", "Shangguan", 0.03),
    ("东方", "Dongfang", 0.02), ("皇甫", "Huangfu", 0.03), ("司徒", "Situ", 0.03), ("令狐", "Linghu", 0.02),
    ("慕容", "Murong", 0.01), ("尉迟", "Yuchi", 0.01), ("公孙", "Gongsun", 0.01),
)  # fmt: skip
"""Compound surnames, at ten times their (tiny) real shares; see the module docstring."""

_ALL_SURNAMES = SURNAMES + COMPOUND_SURNAMES
_SURNAME_CUMULATIVE = tuple(accumulate(s[2] for s in _ALL_SURNAMES))

_GIVEN_MALE = "伟强军磊勇杰涛明刚平辉建国华志斌波鹏飞俊峰林浩宇轩子豪博文海东晨阳永成兵超健鑫亮"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英玲红梅兰桂燕萍婷雪琳洁颖慧倩欣怡佳蕾薇莉婧晶雯媛"
_GIVEN_ANY = "春晓文一宁嘉欣思雨安"

_HOMOPHONES: tuple[str, ...] = (
    "丽莉立利力", "伟薇卫维玮", "明鸣铭", "静晶靖婧", "华花", "军君俊", "芳方", "红宏洪鸿",
    "英瑛莹颖", "玲铃龄", "杰洁婕", "霞侠", "燕艳雁", "娟鹃", "敏闽", "涛韬", "斌彬滨",
    "强蔷", "勇永咏", "平萍苹", "建健剑", "志智芝", "秀绣", "兰岚", "辉晖慧", "磊蕾",
    "刚钢", "桂贵", "文雯", "波博", "峰锋丰", "林琳霖", "梅玫", "佳嘉家", "鹏朋", "飞菲",
    "海", "宇雨语", "欣鑫馨", "怡宜", "晨辰", "婷庭", "浩昊皓", "东冬", "倩茜", "亮靓",
)  # fmt: skip
_HOMOPHONE_OF = {c: group for group in _HOMOPHONES for c in group if len(group) > 1}

_LOOKALIKES: tuple[tuple[str, str], ...] = (
    ("己", "已"), ("玉", "王"), ("士", "土"), ("末", "未"), ("戌", "戍"), ("候", "侯"),
    ("淑", "叔"), ("娟", "绢"), ("峰", "锋"), ("婷", "亭"), ("晓", "哓"), ("斌", "赋"),
    ("洁", "沽"), ("静", "净"), ("敏", "勄"), ("刚", "冈"), ("杰", "木"), ("建", "健"),
    ("琳", "淋"), ("艳", "艷"), ("倩", "情"), ("颖", "频"), ("鹏", "朋"), ("浩", "告"),
)  # fmt: skip
_LOOKALIKE_OF = {a: b for a, b in _LOOKALIKES} | {b: a for a, b in _LOOKALIKES}

_TRADITIONAL = dict(
    (pair[0], pair[1])
    for pair in [
        "陈陳",
        "刘劉",
        "张張",
        "杨楊",
        "黄黃",
        "赵趙",
        "吴吳",
        "孙孫",
        "马馬",
        "郑鄭",
        "谢謝",
        "罗羅",
        "许許",
        "韩韓",
        "邓鄧",
        "冯馮",
        "苏蘇",
        "吕呂",
        "卢盧",
        "钟鍾",
        "谭譚",
        "陆陸",
        "贾賈",
        "邹鄒",
        "龙龍",
        "顾顧",
        "龚龔",
        "万萬",
        "钱錢",
        "严嚴",
        "叶葉",
        "蒋蔣",
        "丽麗",
        "华華",
        "国國",
        "军軍",
        "红紅",
        "伟偉",
        "兰蘭",
        "凤鳳",
        "东東",
        "强強",
        "涛濤",
        "辉輝",
        "鹏鵬",
        "飞飛",
        "晓曉",
        "颖穎",
        "宁寧",
        "阳陽",
        "欧歐",
        "门門",
        "诸諸",
        "兴興",
        "荣榮",
        "贵貴",
        "乔喬",
        "庆慶",
        "凯凱",
        "锋鋒",
        "宾賓",
        "丰豐",
    ]
)


def surname(rng: random.Random) -> tuple[str, str]:
    """A surname and its pinyin (capitalised), drawn by published frequency."""
    index = bisect(_SURNAME_CUMULATIVE, rng.random() * _SURNAME_CUMULATIVE[-1])
    chars, pinyin, _ = _ALL_SURNAMES[min(index, len(_ALL_SURNAMES) - 1)]
    return chars, pinyin


def given_name(rng: random.Random, sex: Sex) -> str:
    """A given name of one character (a quarter of the time) or two, typical for `sex`."""
    pool = _GIVEN_MALE if sex == "male" else _GIVEN_FEMALE
    if rng.random() < 0.25:
        return rng.choice(pool)
    return rng.choice(pool) + rng.choice(pool if rng.random() < 0.8 else _GIVEN_ANY)


@lru_cache(maxsize=8192)  # bounded: memory stays flat however many names pass
def given_pinyin(given: str) -> str:
    """Toneless pinyin of a given name, capitalised and written together ("Xiaoming")."""
    return "".join(lazy_pinyin(given, style=Style.NORMAL, v_to_u=False)).capitalize()


def homophone(rng: random.Random, given: str) -> str | None:
    """`given` with one character replaced by a homophone, or None when none of its
    characters has one in the table."""
    positions = [i for i, c in enumerate(given) if c in _HOMOPHONE_OF]
    if not positions:
        return None
    i = rng.choice(positions)
    choices = [c for c in _HOMOPHONE_OF[given[i]] if c != given[i]]
    return given[:i] + rng.choice(choices) + given[i + 1 :]


def typo(rng: random.Random, given: str) -> str | None:
    """`given` with one character replaced by one that looks like it (a near miss of the
    input method's candidate list), or None when no character has a look-alike."""
    positions = [i for i, c in enumerate(given) if c in _LOOKALIKE_OF]
    if not positions:
        return None
    i = rng.choice(positions)
    return given[:i] + _LOOKALIKE_OF[given[i]] + given[i + 1 :]


def traditional(text: str) -> str:
    """`text` with the characters the table knows written in their traditional forms."""
    return "".join(_TRADITIONAL.get(c, c) for c in text)
