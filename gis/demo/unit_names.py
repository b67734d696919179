"""Names of units and places: shops (老王小吃), hotels, factories, schools, rental rooms."""

from __future__ import annotations

import numpy as np

from gis.demo.names import PLACE_STEMS, surnames

LUCKY = "鑫盛兴福旺隆顺达昌泰和祥瑞佳美康乐源丰华金宏利荣安通发辉宝吉"
PRODUCTS = ("机械", "食品", "建材", "塑业", "纺织", "化工", "印刷", "乳业", "木业", "电器")
PATTERNS: dict[str, tuple[str, ...]] = {
    "small_shop": (
        "{sur}记便利店",
        "{stem}超市",
        "{stem}百货",
        "{sur}氏五金店",
        "{lucky}烟酒店",
        "{lucky}水果店",
        "{stem}电动车行",
    ),
    "small_restaurant": (
        "老{sur}小吃",
        "{sur}记面馆",
        "{lucky}烧烤",
        "{stem}饺子馆",
        "{sur}家菜馆",
        "{lucky}火锅",
        "{stem}手把肉",
        "{sur}记对夹",
        "{lucky}拉面",
    ),
    "small_hotel": ("{stem}快捷宾馆", "{lucky}旅店", "{stem}家庭旅馆"),
    "small_entertainment": ("{lucky}KTV", "{stem}歌厅", "{lucky}棋牌室"),
    "small_internet_cafe": ("{lucky}网咖", "{stem}网吧"),
    "small_beauty_bath": ("{lucky}美容美发", "{stem}洗浴中心", "{lucky}足道", "{sur}氏理发"),
    "small_workshop": ("{stem}加工坊", "{sur}记汽修", "{lucky}木器加工", "{stem}门窗加工"),
    "small_clinic": ("{stem}诊所", "{sur}氏口腔诊所", "{stem}社区卫生服务站", "{lucky}大药房"),
    "small_school": ("{stem}幼儿园", "{lucky}培训学校", "{stem}托管中心", "{lucky}舞蹈学校"),
    "hospital": ("{district}{stem}医院", "赤峰{stem}中医院", "{stem}妇幼保健院"),
    "school": ("{district}第{num}中学", "{stem}小学", "{stem}实验学校"),
    "mall": ("{stem}购物中心", "{lucky}商厦", "{stem}百货大楼"),
    "hotel": ("{stem}大酒店", "{lucky}宾馆", "{stem}国际酒店"),
    "high_rise_office": ("{stem}大厦", "{stem}国际中心", "{lucky}金融大厦"),
    "factory": ("赤峰{lucky}{product}有限公司", "{stem}{product}厂"),
    "warehouse": ("{stem}物流仓储", "{lucky}冷链仓库", "{stem}建材仓库"),
    "gas_station": ("中石化{stem}加油站", "中石油{stem}加油站"),
    "elderly_home": ("{stem}养老院", "{lucky}颐养中心"),
    "public_venue": (
        "{stem}体育馆",
        "{stem}影剧院",
        "{district}图书馆{stem}分馆",
        "{stem}会展中心",
    ),
    "village_property": ("{village}村委会", "{village}村物业服务站"),
    "street_shop": (
        "{lucky}批发部",
        "{stem}建材店",
        "{lucky}电动车行",
        "{sur}记杂货铺",
        "{stem}家电维修",
        "{lucky}粮油店",
    ),
    "industrial_enterprise": ("{stem}{product}厂", "赤峰{lucky}{product}有限公司"),
    "village_house": ("{village}{sur}家自建房",),
    "rental_housing": ("{estate}出租房", "{lucky}公寓", "{stem}青年公寓"),
    "general": (
        "{lucky}商贸有限公司",
        "{stem}科技有限公司",
        "{stem}物业公司",
        "{lucky}律师事务所",
        "{stem}银行营业部",
        "{lucky}文化传媒",
    ),
}


def unit_names(
    rng: np.random.Generator,
    kinds: np.ndarray,
    *,
    district: str,
    villages: np.ndarray,
    estates: np.ndarray,
) -> np.ndarray:
    """A name per unit from the patterns of its kind (subtype, or ``general``)."""
    n = len(kinds)
    sur = surnames(rng, n)
    stems = np.array(PLACE_STEMS, dtype=object)[rng.integers(0, len(PLACE_STEMS), n)]
    lucky1 = rng.integers(0, len(LUCKY), n)
    lucky2 = rng.integers(0, len(LUCKY), n)
    products = np.array(PRODUCTS, dtype=object)[rng.integers(0, len(PRODUCTS), n)]
    nums = rng.integers(1, 30, n)
    pick = rng.random(n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        pats = PATTERNS[kinds[i]]
        pat = pats[int(pick[i] * len(pats))]
        out[i] = pat.format(
            sur=sur[i],
            stem=stems[i],
            lucky=LUCKY[lucky1[i]] + LUCKY[lucky2[i]],
            product=products[i],
            num=nums[i],
            district=district,
            village=str(villages[i]).removesuffix("村"),
            estate=estates[i],
        )
    return out
