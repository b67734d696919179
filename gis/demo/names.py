"""Chinese names for the demo district: people, phones, roads, places, estates and shops.

Names are drawn from fixed pools with the caller's random stream, so they are reproducible.
Hongshan district's own streets and towns are used for the first district; further districts
(large scales) get invented names kept unique by a ``NameRegistry``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤包乌宝那"
)
# Rough frequency: the first surnames are far more common.
_SURNAME_W = 1.0 / (np.arange(len(SURNAMES)) + 8.0)
GIVEN_SINGLE = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉玲桂华飞鑫波宇浩凯健斌鹏琳雪婷颖晶亮东峰"
GIVEN_DOUBLE = (
    "秀英",
    "秀兰",
    "桂英",
    "玉兰",
    "建华",
    "建国",
    "建军",
    "志强",
    "海燕",
    "晓东",
    "丽娟",
    "文博",
    "子涵",
    "雨轩",
    "浩然",
    "欣怡",
    "梓萱",
    "宇航",
    "俊杰",
    "春梅",
    "红霞",
    "立新",
    "国庆",
    "振华",
    "金凤",
    "淑珍",
    "凤英",
    "永刚",
    "海军",
    "晓燕",
    "德胜",
    "长青",
    "其其格",
    "巴特尔",
    "斯琴",
    "乌云",
    "宝音",
    "娜仁",
    "小龙",
    "佳怡",
    "思远",
    "嘉欣",
    "明辉",
    "占军",
)


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` plausible full names (surname + one or two given characters)."""
    if n == 0:
        return np.empty(0, dtype=object)
    sur = np.array(list(SURNAMES), dtype=object)[
        rng.choice(len(SURNAMES), size=n, p=_SURNAME_W / _SURNAME_W.sum())
    ]
    single = np.array(list(GIVEN_SINGLE), dtype=object)
    double = np.array(GIVEN_DOUBLE, dtype=object)
    a = single[rng.integers(0, len(single), n)]
    b = single[rng.integers(0, len(single), n)]
    d = double[rng.integers(0, len(double), n)]
    kind = rng.random(n)
    given = np.where(kind < 0.35, a, np.where(kind < 0.7, d, a + b))
    return sur + given


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` surnames, frequency-weighted."""
    return np.array(list(SURNAMES), dtype=object)[
        rng.choice(len(SURNAMES), size=n, p=_SURNAME_W / _SURNAME_W.sum())
    ]


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` mainland mobile numbers (11 digits)."""
    prefixes = np.array(
        [
            "130",
            "131",
            "132",
            "135",
            "136",
            "137",
            "138",
            "139",
            "150",
            "151",
            "152",
            "155",
            "156",
            "158",
            "159",
            "177",
            "180",
            "182",
            "185",
            "186",
            "187",
            "188",
            "189",
            "199",
        ],
        dtype=object,
    )
    pre = prefixes[rng.integers(0, len(prefixes), n)]
    rest = rng.integers(0, 100_000_000, n)
    return np.array([f"{p}{r:08d}" for p, r in zip(pre, rest, strict=True)], dtype=object)


# ----------------------------------------------------------------------------- places

HONGSHAN = {
    "district": ("红山区", "红山", "150402"),
    "streets": (
        "西屯街道",
        "铁南街道",
        "永巨街道",
        "站前街道",
        "三中街街道",
        "三道街街道",
        "长青街道",
        "南新街街道",
        "哈达街街道",
        "桥北街道",
        "东城街道",
    ),
    "towns": ("文钟镇", "红庙子镇"),
}
DISTRICT_STEMS = (
    "松北",
    "元宝",
    "新城",
    "临潢",
    "锦山",
    "巴林",
    "翁牛",
    "宁城",
    "林西",
    "敖汉",
    "喀喇",
    "天义",
    "平庄",
    "大板",
    "经棚",
    "八家",
    "当铺",
    "老哈",
    "西拉",
    "乌兰",
    "赛罕",
    "兴安",
    "丹霞",
    "木兰",
    "金川",
    "玉龙",
    "青山",
    "白塔",
    "东山",
    "西湖",
    "南湖",
    "北岭",
    "清水",
    "石门",
    "柳河",
    "桃源",
)
PLACE_STEMS = (
    "昭苑",
    "清河",
    "园林",
    "康乐",
    "富裕",
    "景园",
    "兴安",
    "长安",
    "和平",
    "团结",
    "友谊",
    "建设",
    "五一",
    "胜利",
    "光明",
    "民族",
    "文化",
    "学府",
    "北斗",
    "草原",
    "锦山",
    "丹霞",
    "牡丹",
    "新华",
    "解放",
    "永安",
    "福源",
    "安居",
    "馨园",
    "翠林",
    "阳光",
    "紫苑",
    "青城",
    "金桥",
    "银河",
    "春晖",
    "向阳",
    "红旗",
    "跃进",
    "朝阳",
    "东方",
    "振兴",
    "桥西",
    "铁西",
    "站东",
    "河畔",
    "滨河",
    "南苑",
    "北苑",
    "西苑",
    "东苑",
    "中和",
    "惠民",
    "鸿福",
    "瑞祥",
    "祥和",
    "宝山",
    "玉泉",
    "水泉",
    "松山",
)
VILLAGE_PARTS = ("营子", "窝铺", "沟", "店", "屯", "湾", "井", "梁", "台", "岔", "坝", "庄")
VILLAGE_NUMERALS = ("一", "二", "三", "四", "五", "六", "七", "八", "十", "十二", "三十")
ESTATE_STEMS = (
    "锦绣",
    "阳光",
    "华府",
    "御景",
    "金地",
    "翠园",
    "盛世",
    "富丽",
    "名都",
    "新城",
    "福星",
    "万达",
    "恒大",
    "碧桂",
    "中梁",
    "泰和",
    "天骄",
    "松州",
    "玉龙",
    "蒙东",
    "红山",
    "英金",
    "昭乌达",
    "锡伯",
    "龙城",
    "凤凰",
    "世纪",
    "时代",
    "学苑",
    "康馨",
)
ESTATE_SUFFIX = ("小区", "花园", "家园", "苑", "公馆", "嘉园", "新村", "雅居")

ROAD_STEMS = (
    "昭乌达",
    "哈达",
    "钢铁",
    "新华",
    "长青",
    "临潢",
    "玉龙",
    "全宁",
    "三中",
    "富河",
    "解放",
    "清河",
    "桥北",
    "站前",
    "永巨",
    "铁南",
    "红山",
    "英金",
    "锡伯河",
    "西拉沐沦",
    "巴林",
    "翁牛特",
    "喀喇沁",
    "宁城",
    "林西",
    "克什克腾",
    "敖汉",
    "元宝山",
    "松山",
    "木兰",
    "天义",
    "平庄",
    "大板",
    "经棚",
    "八家",
    "当铺地",
    "老哈河",
    "和平",
    "团结",
    "友谊",
    "建设",
    "五一",
    "胜利",
    "光明",
    "民族",
    "文化",
    "学府",
    "园林",
    "北斗",
    "兴安",
    "赛罕",
    "草原",
    "锦山",
    "丹霞",
    "承德",
    "牡丹",
    "马驿",
    "宝山",
    "兴隆",
    "百灵",
    "欧式",
    "都市",
    "东环",
    "西环",
    "南环",
    "北环",
    "向阳",
    "红旗",
    "跃进",
    "朝阳",
    "东方",
    "振兴",
    "滨河",
    "河畔",
    "青城",
    "金桥",
    "银河",
    "春晖",
    "紫苑",
    "翠林",
    "安居",
    "福源",
    "永安",
    "惠民",
    "鸿福",
    "瑞祥",
    "祥和",
    "玉泉",
    "水泉",
    "中和",
    "工业",
    "铁路",
    "站北",
    "学院",
    "体育",
    "医院",
    "科技",
    "创业",
    "商贸",
    "物流",
    "新区",
    "开发",
)
HIGHWAYS = (
    "G111国道",
    "G305国道",
    "G16丹锡高速连接线",
    "S205省道",
    "S206省道",
    "S307省道",
    "S210省道",
    "G303国道",
    "S221省道",
    "S307省道东段",
)


class NameRegistry:
    """Hands out names unique across the whole run (districts, streets, short codes)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, name: str) -> str:
        """Return ``name``, or ``name`` with a numeral suffix when it is taken."""
        if name not in self._used:
            self._used.add(name)
            return name
        for k in range(2, 10_000):
            cand = f"{name}{_numeral(k)}"
            if cand not in self._used:
                self._used.add(cand)
                return cand
        msg = f"no free variant of {name!r}"
        raise RuntimeError(msg)


def _numeral(k: int) -> str:
    digits = "零一二三四五六七八九"
    if k < 10:
        return digits[k]
    return "".join(digits[int(c)] for c in str(k))


def district_names(
    rng: np.random.Generator,
    index: int,
    registry: NameRegistry,
) -> tuple[str, str, list[str], list[str]]:
    """(district name, short name, 11 street names, 2 town names) of district ``index``."""
    if index == 0:
        name, short, _ = HONGSHAN["district"]
        registry.claim(short)
        streets = list(HONGSHAN["streets"])
        towns = list(HONGSHAN["towns"])
        for s in [*streets, *towns]:
            registry.claim(short_name(s))
        return name, short, streets, towns
    short = registry.claim(DISTRICT_STEMS[int(rng.integers(0, len(DISTRICT_STEMS)))])
    stems = list(rng.permutation(np.array(PLACE_STEMS, dtype=object)))
    streets = [registry.claim(str(s)) + "街道" for s in stems[:11]]
    towns = [
        registry.claim(str(s)) + ("镇" if i == 0 else "乡") for i, s in enumerate(stems[11:13])
    ]
    return f"{short}区", short, streets, towns


def short_name(region_name: str) -> str:
    """西屯街道 → 西屯, 文钟镇 → 文钟 (the region part of hazard codes)."""
    for suffix in ("街道", "镇", "乡", "区"):
        if region_name.endswith(suffix) and len(region_name) > len(suffix):
            return region_name[: -len(suffix)]
    return region_name


def community_names(
    rng: np.random.Generator, n: int, *, village: bool, taken: set[str]
) -> list[str]:
    """``n`` community (社区) or village (村) names not in ``taken`` (which is updated)."""
    out: list[str] = []
    while len(out) < n:
        if village:
            r = rng.random()
            if r < 0.45:
                part = VILLAGE_PARTS[int(rng.integers(0, len(VILLAGE_PARTS)))]
                stem = f"{surnames(rng, 1)[0]}家{part}"
            elif r < 0.75:
                stem = (
                    VILLAGE_NUMERALS[int(rng.integers(0, len(VILLAGE_NUMERALS)))]
                    + ("道", "里", "家", "眼")[int(rng.integers(0, 4))]
                    + VILLAGE_PARTS[int(rng.integers(0, len(VILLAGE_PARTS)))]
                )
            else:
                stem = (
                    PLACE_STEMS[int(rng.integers(0, len(PLACE_STEMS)))]
                    + VILLAGE_PARTS[int(rng.integers(0, len(VILLAGE_PARTS)))]
                )
            name = stem + "村"
        else:
            stem = PLACE_STEMS[int(rng.integers(0, len(PLACE_STEMS)))]
            extra = ("", "东", "西", "南", "北", "新")[int(rng.integers(0, 6))]
            name = f"{stem}{extra}社区"
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def estate_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` residential estate (小区) names."""
    a = np.array(ESTATE_STEMS, dtype=object)[rng.integers(0, len(ESTATE_STEMS), n)]
    b = np.array(ESTATE_SUFFIX, dtype=object)[rng.integers(0, len(ESTATE_SUFFIX), n)]
    return a + b


def road_names(rng: np.random.Generator, n: int, suffixes: Sequence[str]) -> list[str]:
    """``n`` distinct road names: a stem and one of ``suffixes`` (路, 街, 大街, ...)."""
    stems = list(rng.permutation(np.array(ROAD_STEMS, dtype=object)))
    quals = ("", "东", "西", "南", "北", "新")
    out: list[str] = []
    k = 0
    while len(out) < n:
        stem = stems[k % len(stems)]
        qual = quals[(k // len(stems)) % len(quals)]
        out.append(f"{stem}{qual}{suffixes[int(rng.integers(0, len(suffixes)))]}")
        k += 1
    return out


def lane_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` lane names (胡同, 巷)."""
    stems = np.array(PLACE_STEMS, dtype=object)[rng.integers(0, len(PLACE_STEMS), n)]
    num = np.array(VILLAGE_NUMERALS, dtype=object)[rng.integers(0, len(VILLAGE_NUMERALS), n)]
    kind = rng.random(n)
    return np.where(
        kind < 0.5, stems + "胡同", np.where(kind < 0.8, stems + "巷", stems + num + "条巷")
    )
