"""A long answer for tests of how one is read: eight topics of 36-47 characters, which
:func:`indexer.documents.chunk_text` cuts into three chunks (two windows), the last topic alone
in the third."""

TOPICS = [
    "营业厅办理业务需要携带本人有效身份证件原件，代办还需提供代办人身份证和机主授权委托书。",
    "周末和法定节假日营业时间为上午九点到下午五点，部分网点中午休息一小时。",
    "国际漫游需要提前开通，出国前请确认套餐是否包含目的地流量包，否则按标准资费计费。",
    "漫游期间接听电话同样收费，短信接收免费，回国后漫游功能不会自动关闭。",
    "积分可以兑换话费、流量和合作商户的优惠券，积分有效期为两年，到期前一个月会发短信提醒。",
    "宽带迁移需提前三个工作日预约，新地址需在覆盖范围内，迁移费用五十元，包年用户免费一次。",
    "发票可以在手机营业厅申请电子发票，也可以到营业厅打印纸质发票，按月开具。",
    "副卡注销需要主卡机主本人持身份证到营业厅办理，副卡余额不退，注销后号码九十天内不能再办理。",
]
LONG_ANSWER = "".join(TOPICS)
