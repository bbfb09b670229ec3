"""The fictional county the synthetic alliance serves: 浙江省丽水市青溪县, its towns and villages.

青溪县 does not exist; its division code 331128 follows the pattern of 丽水市's counties
(3311xx, GB/T 2260) in a slot no real county uses, so resident IDs made with it are
well-formed without naming a real place.  The county seat is 城关镇; the next two towns are
the demo's (东山镇, 白水乡), so their health centres keep the demo's codes.  Village names are
built from the syllables of the region's place names (岙, 垟, 坑, 源: valleys, flats and
streams in southern Zhejiang) and are unique within the county, so a village clinic's code is
its village's pinyin.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pypinyin import Style, lazy_pinyin

__all__ = ["CITY", "COUNTY", "COUNTY_SEAT", "DIVISION", "PROVINCE", "TOWNS", "Town", "pinyin_code"]

PROVINCE = "浙江省"
CITY = "丽水市"
COUNTY = "青溪县"
DIVISION = "331128"
"""The county's 6-digit division code (GB/T 2260 style; unused by any real county)."""

NEIGHBOUR_DIVISIONS = ("331102", "331121", "331122", "331123", "330702", "330303")
"""Real divisions nearby (莲都区, 青田县, 缙云县, 遂昌县, 婺城区, 鹿城区): where some residents
were born, so their resident IDs start with another county's code."""

_TOWN_NAMES = (
    "城关镇", "东山镇", "白水乡", "石门镇", "竹溪乡", "梅岭镇", "龙潭镇", "枫林乡", "云岭乡", "黄坛镇",
    "双溪镇", "高桥乡", "大坪乡", "清源镇", "桃花乡", "安仁镇", "官塘乡", "万山乡", "岭北乡", "金竹镇",
    "杉树乡",
)  # fmt: skip
_VILLAGE_HEADS = "上下东西南北石竹溪岭桥新大小高后前杨梅枫黄龙云花"
_VILLAGE_TAILS = ("坑村", "源村", "头村", "口村", "岙村", "垟村", "塘村", "湾村", "坪村", "岗村")
VILLAGES_PER_TOWN = 11


@dataclass(frozen=True, slots=True)
class Town:
    """A township (乡镇) and its villages (行政村); the county seat's "villages" are its
    residents' committees (社区), which is where the county hospital stands."""

    name: str
    code: str  # pinyin without the 镇/乡 suffix: "dongshan"
    villages: tuple[str, ...]


def pinyin_code(name: str) -> str:
    """Lower-case toneless pinyin of a place name, for institution codes."""
    return "".join(lazy_pinyin(name, style=Style.NORMAL)).lower().replace("ü", "v")


@cache
def _towns() -> tuple[Town, ...]:
    seen: set[str] = set()
    towns = []
    for t, name in enumerate(_TOWN_NAMES):
        if t == 0:
            villages = tuple(f"{d}社区" for d in ("城东", "城西", "城南", "城北", "解放街", "新华街"))
        else:
            picked: list[str] = []
            j = 0
            while len(picked) < VILLAGES_PER_TOWN:
                head = _VILLAGE_HEADS[(t * 7 + j * 5) % len(_VILLAGE_HEADS)]
                tail = _VILLAGE_TAILS[(t * 3 + j * 7 + j // len(_VILLAGE_TAILS)) % len(_VILLAGE_TAILS)]
                j += 1
                village = head + tail
                if village not in seen:
                    seen.add(village)
                    picked.append(village)
            villages = tuple(picked)
        towns.append(Town(name, pinyin_code(name[:-1]), villages))
    return tuple(towns)


TOWNS: tuple[Town, ...] = _towns()
"""The county seat first, then the demo's two towns, then the rest."""

COUNTY_SEAT = TOWNS[0]
