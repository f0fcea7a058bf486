/**
 * Words for what the records are made of, in English and Simplified
 * Chinese: every record type, every field (by its proto name) and every
 * enum value of records.proto, so a screen that shows a record it did not
 * lay out by hand (a cited record, an operation log, a lost merge) never
 * shows a proto name. test/words.test.ts checks every field and value of
 * records.proto has its words. Each entry is [English, 中文].
 */
import { currentLang } from "./i18n";

type Pair = readonly [en: string, zh: string];

/** Record (message) types by their short name. */
const TYPES: Record<string, Pair> = {
  PhotoRef: ["Photo", "照片"], Visit: ["Visit", "拜访"], SurgerySupport: ["Surgery support", "跟台"], Diagnosis: ["Diagnosis", "诊断"],
  TechnicalParameter: ["Technical parameter", "技术参数"], Quote: ["Quote", "报价"], QuoteLine: ["Quote line", "报价明细"],
  Commitment: ["Commitment", "承诺"], Contact: ["Contact", "联系人"], Customer: ["Customer", "客户"], Opportunity: ["Opportunity", "商机"],
  StockLevel: ["Stock level", "库存"], CampaignMaterial: ["Campaign material", "活动物料"], CampaignFeedback: ["Campaign feedback", "活动物料反馈"],
  SatisfactionRating: ["Satisfaction rating", "满意度评价"], OperationEntry: ["Operation", "操作"], DeviceOperationLog: ["Operation log", "操作日志"],
  Alert: ["Alert", "提醒"], AlertParam: ["Alert detail", "提醒详情"], ShipmentItem: ["Shipment item", "寄样物品"],
  SampleShipment: ["Sample shipment", "寄样申请"], RebateTier: ["Rebate tier", "返利阶梯"], RebateRule: ["Rebate rule", "返利规则"],
};

/** Fields by their proto name (the same word for a name in every type that has it). */
const FIELDS: Record<string, Pair> = {
  acknowledged_time: ["Acknowledged", "确认时间"], action_tags: ["Action value", "行动价值"], address: ["Address", "地址"],
  agreement_price_cents: ["Agreement price", "协议价"], amount_cents: ["Amount", "金额"], assigned_rep_id: ["Assigned rep", "负责代表"],
  attachments: ["Attachments", "附件"], basis: ["Basis", "计算依据"], basis_points: ["Rate", "比例"], body: ["Text", "正文"],
  comment: ["Comment", "评价内容"], complete: ["Complete", "已填完整"], conclusion: ["Conclusion", "诊断结论"],
  consumable_models: ["Consumables used", "使用的耗材"], contacts: ["Contacts", "联系人"], content_type: ["File type", "文件类型"],
  core_problem_solved: ["Core problem solved", "本次解决的核心问题"], count: ["Times", "次数"], currency: ["Currency", "币种"],
  customer_id: ["Customer", "客户"], dedup_key: ["Reference", "编号"], description: ["Description", "内容"], diagnosis_id: ["Diagnosis", "诊断"],
  diagnosis_photo_sha256s: ["Diagnosis photos cited", "引用的诊断照片"], due_time: ["Due", "到期时间"], entries: ["Operations", "操作"],
  fault_symptoms: ["Fault symptoms", "故障现象"], feedback: ["Feedback", "反馈"], field: ["Field", "字段"],
  follow_up_commitments: ["Follow-up commitments", "后续承诺"], form_record_id: ["Form", "表单"], form_record_type: ["Form type", "表单类型"],
  high_value: ["High value", "高价值"], historical_purchase_price_cents: ["Historical purchase price", "历史采购价"],
  hospital_id: ["Hospital", "医院"], intra_op_photo: ["Intra-op photo", "术中使用照片"], items: ["Items", "物品"], kind: ["Kind", "类型"],
  latest_milestone: ["Latest milestone", "最新验收节点"], lines: ["Lines", "明细"], material_id: ["Campaign material", "活动物料"],
  min: ["From", "起点"], name: ["Name", "名称"], next_action: ["Next action", "下一步行动"], next_action_due_time: ["Next action due", "下一步截止时间"],
  next_appointment_time: ["Next appointment", "下次预约时间"], notes: ["Notes", "备注"], on_hand: ["On hand", "现有库存"],
  owner_user_id: ["Owner", "负责人"], params: ["Details", "详情"], per_unit_cents: ["Per unit", "每单位"], phone: ["Phone", "电话"],
  photos: ["Photos", "照片"], photos_complete: ["Photos complete", "照片齐全"], post_op_count_photo: ["Post-op count photo", "术后清点照片"],
  pre_op_photo: ["Pre-op photo", "术前准备照片"], product_id: ["Product", "产品"], product_ids: ["Products", "产品"], quantity: ["Qty", "数量"],
  quote_id: ["Quote", "报价"], raised_time: ["Raised", "触发时间"], rating: ["Rating", "评分"], rebate_device_cents: ["Rebate (device)", "返利（设备估算）"],
  rebate_device_rule_id: ["Rebate rule (device)", "返利规则（设备）"], rebate_recorded_time: ["Rebate recorded", "返利记录时间"],
  rebate_server_cents: ["Rebate (server)", "返利（服务器核定）"], rebate_server_rule_id: ["Rebate rule (server)", "返利规则（服务器）"],
  recipient_address: ["Address", "地址"], recipient_name: ["Recipient", "收件人"], recipient_phone: ["Phone", "电话"],
  recipient_user_id: ["Recipient", "接收人"], region_id: ["Region", "大区"], related_record_ids: ["Related records", "相关记录"],
  released_time: ["Released", "发布时间"], repeat_photo_flagged: ["Repeat photo flagged", "重复照片已标记"],
  replenishment_requested: ["Replenishment requested", "已申请补货"], requested_time: ["Requested", "申请时间"], revision: ["Revision", "版本"],
  safety_stock: ["Safety stock", "安全库存"], score: ["Score", "评分"], sha256: ["Photo", "照片"], size_bytes: ["Size", "大小"],
  stage: ["Stage", "阶段"], state: ["State", "状态"], status: ["Status", "状态"], store_id: ["Store", "门店"],
  suggested_work_items: ["Suggested work items", "建议项目"], supervisor_contact: ["Supervising contact", "监理联系人"],
  surgery_time: ["Surgery time", "手术时间"], technical_parameters: ["Technical parameters", "技术参数"], terminal_id: ["Terminal", "终端"],
  tiers: ["Tiers", "阶梯"], time: ["Time", "时间"], title: ["Title", "标题"], total_cents: ["Total", "总价"], unit_price_cents: ["Unit price", "单价"],
  usage_feedback: ["Usage feedback", "使用反馈"], valid_from: ["Valid from", "生效日期"], valid_to: ["Valid to", "失效日期"], value: ["Value", "数值"],
  vehicle_model: ["Vehicle model", "车型"], visit_id: ["Visit", "拜访"], visit_time: ["Visit time", "拜访时间"], work_items: ["Work items", "施工项目"],
};

/** Enum values by their proto name; an enum's UNSPECIFIED (0) is "not set". */
const ENUMS: Record<string, Pair> = {
  RECORD_STATUS_DRAFT: ["Draft", "草稿"], RECORD_STATUS_SUBMITTED: ["Submitted", "已提交"],
  VISIT_KIND_ROUTINE: ["Routine", "例行拜访"], VISIT_KIND_CLINICAL_DIRECTOR: ["Clinical director", "临床主任"],
  VISIT_KIND_PROCUREMENT: ["Procurement", "采购"], VISIT_KIND_STORE_CUSTOMER: ["Store customer", "门店客户"],
  COMMITMENT_STATE_OPEN: ["Open", "进行中"], COMMITMENT_STATE_DONE: ["Done", "已完成"], COMMITMENT_STATE_CANCELLED: ["Cancelled", "已取消"],
  CUSTOMER_KIND_HOSPITAL: ["Hospital", "医院"], CUSTOMER_KIND_STORE_CUSTOMER: ["Store customer", "门店客户"], CUSTOMER_KIND_SITE: ["Site", "工地"],
  OPPORTUNITY_STAGE_LEAD: ["Lead", "线索"], OPPORTUNITY_STAGE_QUALIFIED: ["Qualified", "已确认需求"], OPPORTUNITY_STAGE_PROPOSAL: ["Proposal", "方案"],
  OPPORTUNITY_STAGE_NEGOTIATION: ["Negotiation", "谈判"], OPPORTUNITY_STAGE_WON: ["Won", "赢单"], OPPORTUNITY_STAGE_LOST: ["Lost", "丢单"],
  OPERATION_KIND_REQUIRED_SKIPPED: ["Required field skipped", "跳过必填项"], OPERATION_KIND_FIELD_REEDITED: ["Field edited again", "反复修改"],
  ALERT_KIND_CONFLICTING_DIAGNOSES: ["Conflicting diagnoses", "诊断结论冲突"], ALERT_KIND_REPLENISHMENT: ["Replenishment", "补货"],
  ALERT_KIND_MANAGEMENT_INTERVENTION: ["Management intervention", "管理介入"], ALERT_KIND_PROSPECTING_TRAP: ["Prospecting trap", "陷入初次接触"],
  ALERT_KIND_STALLED_CLOSE: ["Stalled close", "成交停滞"], ALERT_KIND_REPEAT_PHOTO: ["Repeat photo", "重复照片"],
  ALERT_KIND_RULE_CHANGE: ["Rule change", "规则变更"], ALERT_KIND_STALE_DEVICE: ["Device not syncing", "设备未同步"],
  ALERT_KIND_DEVICE_ENROLLED: ["New device", "新设备"],
  SHIPMENT_STATE_DRAFT: ["Draft", "草稿"], SHIPMENT_STATE_REQUESTED: ["Requested", "已申请"], SHIPMENT_STATE_APPROVED: ["Approved", "已批准"],
  SHIPMENT_STATE_SHIPPED: ["Shipped", "已发货"], SHIPMENT_STATE_DELIVERED: ["Delivered", "已送达"], SHIPMENT_STATE_CANCELLED: ["Cancelled", "已取消"],
  REBATE_BASIS_QUANTITY: ["By quantity", "按数量"], REBATE_BASIS_AMOUNT: ["By amount", "按金额"],
  REBATE_RULE_STATE_ACTIVE: ["Active", "生效中"], REBATE_RULE_STATE_WITHDRAWN: ["Withdrawn", "已撤回"],
};

const pick = (p: Pair | undefined) => (p ? p[currentLang() === "zh-CN" ? 1 : 0] : undefined);

/** A record type's words, from its full ("fieldsync.v1.Visit") or short name; "" for a type these words do not know. */
export function typeWords(typeName: string): string {
  return pick(TYPES[typeName.slice(typeName.lastIndexOf(".") + 1)]) ?? "";
}

/** A field's words, from its proto (snake_case) or JSON (camelCase) name; "" for a field these words do not know. */
export function fieldWords(name: string): string {
  return pick(FIELDS[name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())]) ?? "";
}

/** An enum value's words from its proto name (VISIT_KIND_ROUTINE); "" for UNSPECIFIED and for a value these words do not know. */
export function enumWords(valueName: string): string {
  return pick(ENUMS[valueName]) ?? "";
}

/** The lists themselves, for the test that checks they cover records.proto. */
export const wordLists = { TYPES, FIELDS, ENUMS };
