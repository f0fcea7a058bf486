/**
 * The app's words in English and Simplified Chinese. Every string a screen
 * shows comes from here: `zh` must have every key of `en` (the type says so).
 * The language is the user's choice (kept in localStorage), else the
 * browser's (navigator.language).
 */
const en = {
  appName: "fieldsync",
  language: "中文",
  // sync bar
  online: "Online",
  offline: "Offline",
  syncing: "Syncing…",
  writesWaiting: "{n} writes waiting",
  allSynced: "All synced",
  photosWaiting: "{n} photos waiting",
  photoProgress: "{sent} of {size} KB",
  lastSync: "Last sync {time}",
  neverSynced: "Never synced",
  conflictsN: "{n} lost in merge",
  rejectionsN: "{n} refused",
  photosFailedN: "{n} photos failed",
  updateReady: "A new version is ready.",
  updateNow: "Update",
  // nav
  navToday: "Today",
  navCustomers: "Customers",
  navNew: "New",
  navAlerts: "Alerts",
  navSync: "Sync",
  navManager: "Managers",
  // enroll
  enrollTitle: "Enroll this device",
  enrollHelp: "Type the one-time code your administrator gave you, or scan its QR code.",
  enrollCode: "Enrollment code",
  deviceName: "Device name",
  enroll: "Enroll",
  enrolling: "Enrolling…",
  scanQr: "Scan QR code",
  stopScan: "Stop scanning",
  enrollOffline: "Enrolling needs a network connection.",
  // today
  todayTitle: "Today",
  followUps: "Follow up today",
  overdueOpps: "Overdue opportunities",
  stockAlerts: "Stock alerts",
  upcoming: "Coming up",
  recent: "Recent records",
  nothing: "Nothing here.",
  commitmentDue: "Commitment due {time}",
  commitmentOverdue: "Commitment overdue since {time}",
  appointment: "Appointment {time}",
  oppDue: "{title} — due {time}",
  stockBelow: "{product} at {terminal}: {onHand} on hand, safety stock {safety}",
  renderedIn: "{n} records · computed in {ms} ms",
  photosComplete: "photos complete",
  photosPending: "photos pending",
  pendingSync: "not synced",
  // customers
  customersTitle: "Customers",
  search: "Search",
  briefTitle: "Customer brief",
  keyCommitments: "Key commitments from the last 3 contacts",
  openCommitments: "Open commitments",
  noContacts: "No contacts yet.",
  supervisor: "Supervising contact",
  milestone: "Latest milestone",
  address: "Address",
  contacts: "Contacts",
  requestSamples: "Request samples",
  newVisit: "New visit",
  newSurgery: "New surgery support",
  newCommitment: "New commitment",
  newDiagnosis: "New diagnosis",
  newQuote: "New quote",
  newFeedback: "Campaign feedback",
  unknownCustomer: "Unknown customer",
  // forms
  customer: "Customer",
  hospital: "Hospital",
  choose: "— choose —",
  visitTitle: "Visit",
  visitKind: "Kind of visit",
  kindRoutine: "Routine",
  kindDirector: "Clinical director",
  kindProcurement: "Procurement",
  kindStoreCustomer: "Store customer",
  visitTime: "Visit time",
  notes: "Notes",
  actionTags: "Action value",
  tag_first_contact: "First contact",
  tag_price_negotiation: "Price negotiation",
  tag_technical_demo: "Technical demo",
  tag_decision_maker_confirmed: "Decision maker confirmed",
  coreProblem: "Core problem solved",
  followUpCommitments: "Follow-up commitments",
  nextAppointment: "Next appointment",
  surgeryTitle: "Surgery support",
  surgeryTime: "Surgery time",
  consumables: "Consumables used",
  addConsumable: "Add a model",
  usageFeedback: "Usage feedback",
  replenish: "Request replenishment",
  preOp: "Pre-op photo",
  intraOp: "Intra-op photo",
  postOp: "Post-op count photo",
  takePhoto: "Take photo",
  photoAttached: "Attached",
  diagnosisTitle: "Diagnosis",
  vehicleModel: "Vehicle model",
  faultSymptoms: "Fault symptoms",
  conclusion: "Conclusion",
  workItems: "Work items (one a line)",
  photos: "Photos",
  addPhotos: "Add photos",
  quoteTitle: "Quote",
  diagnosis: "Diagnosis",
  citePhotos: "Diagnosis photos cited",
  noDiagnosisPhotos: "This diagnosis has no photos on this device.",
  technical: "Technical parameters",
  technicalFilled: "{n} of 7 technical fields filled",
  paramName: "Name",
  paramValue: "Value",
  total: "Total",
  currency: "Currency",
  commitmentTitle: "Commitment",
  description: "Description",
  dueTime: "Due",
  state: "State",
  stateOpen: "Open",
  stateDone: "Done",
  stateCancelled: "Cancelled",
  markDone: "Mark done",
  feedbackTitle: "Campaign feedback",
  material: "Campaign material",
  feedback: "Feedback",
  rating: "Rating (0–5)",
  shipmentTitle: "Sample shipment",
  recipientName: "Recipient",
  recipientPhone: "Phone",
  recipientAddress: "Address",
  items: "Items",
  quantity: "Qty",
  saveDraft: "Keep as draft",
  submit: "Submit",
  requestShipment: "Request shipment",
  draftSaved: "Draft saved {time}",
  saved: "Saved on this device; it syncs when online.",
  fixBeforeSubmit: "Fix these before submitting:",
  // validation messages, by rule (the SDK's violations: rule id, field, the rule's value)
  v_required: "is required",
  v_requiredOnSubmit: "is required to submit",
  v_requiredClinical: "is required for a clinical-director visit",
  v_requiredOnRequest: "is required to request the shipment",
  v_maxLen: "must be at most {n} characters",
  v_minLen: "must be at least {n} characters",
  v_maxItems: "must have at most {n} items",
  v_minItems: "must have at least {n} items",
  v_min: "must be at least {n}",
  v_max: "must be at most {n}",
  v_above: "must be more than {n}",
  v_below: "must be less than {n}",
  v_defined: "has a value this app does not know",
  v_pattern: "is not in the right format",
  v_printableName: "must have a visible character and no control characters",
  v_printableText: "must have no control characters other than tabs and line breaks",
  v_invalid: "is not valid",
  discard: "Discard",
  newRecord: "New record",
  // alerts
  alertsTitle: "Alerts and reminders",
  acknowledge: "Acknowledge",
  acknowledged: "Acknowledged {time}",
  alert_1: "Conflicting diagnoses",
  alert_2: "Replenishment",
  alert_3: "Management intervention",
  alert_4: "Prospecting trap",
  alert_5: "Stalled close",
  alert_6: "Repeat photo",
  alert_7: "Rule change",
  alert_8: "Device not syncing",
  alert_9: "New device",
  // alerts worded from their kind and facts (Alert.params), not the server's English
  a1Title: "Conflicting diagnoses for customer {customer_id}",
  a1Body: "{diagnoses} diagnoses of this customer disagree.",
  a2Title: "Replenish {product} at {terminal}",
  a2TitleMany: "Replenish {products} products at {terminal}",
  a2Body: "{on_hand} on hand, below the safety stock of {safety_stock}.",
  a3Title: "PHI of region {region} is falling",
  a4Title: "Stuck in first contacts",
  a4Body: "{rep}'s visit tags were mostly “{tag}” {weeks} weeks running. Time to move customers forward.",
  a5Title: "No progress since the decision maker confirmed",
  a5Body: "The decision maker of customer {customer_id} was confirmed on {date}; no visit, commitment or opportunity change since.",
  a6Title: "The same photo is attached to {records} records",
  a7Title: "Rebate rule changed: {rule}",
  a7Body: "Valid from {valid_from}. Open a quote to see what it earns now.",
  a8Title: "Unsynced writes on {user}'s device",
  a8Body: "Device “{device}” has held {outbox} unsynced writes since {since}.",
  a9Title: "“{device}” was enrolled as you",
  a9Body: "{platform}, {time}, code from {by}. Not yours? Tell your admin.",
  // sync details
  syncTitle: "Sync",
  syncNow: "Sync now",
  conflictsTitle: "Your edits that lost a merge",
  conflictLine: "{field}: yours “{losing}” lost to “{winning}” ({reason})",
  lossOlder: "a newer edit won",
  lossFrozen: "the record was frozen when submitted",
  lossDeleted: "the record was deleted",
  rejectionsTitle: "Changes the server refused",
  photoQueue: "Photo uploads",
  signOut: "Sign out",
  signOutUnsynced: "Changes still wait to sync; sign out anyway?",
  revokedTitle: "This device was revoked",
  revokedHelp: "The server no longer accepts this device: an administrator revoked it. Nothing more is sent or received. Ask for a new enrollment code to use the app again.",
  revokedUnsent: "{n} changes and {photos} photos were not sent; they are still on this device. Save a copy of the changes before you enroll again.",
  revokedSave: "Save the unsent changes",
  revokedReenroll: "Enroll again",
  revokedConfirm: "Enrolling again deletes this device's data, including {n} unsent changes and {photos} unsent photos. Continue?",
  revokedConfirmUnknown: "Enrolling again deletes this device's data, including any changes and photos it has not sent. Continue?",
  device: "Device {id}",
  managerTitle: "Managers' dashboard",
  managerSoon: "The managers' dashboard (PHI, alerts inbox, fleet) comes in a later version.",
  error: "Error: {msg}",
  justNow: "just now",
  queue_0: "waiting",
  queue_1: "uploading",
  queue_2: "uploaded",
  queue_3: "failed",
  reject_1: "The values break the form's rules.",
  reject_2: "You may not write this record.",
  reject_3: "It changes a field only the server sets.",
  reject_4: "This kind of record is unknown to the server.",
  reject_5: "The record does not exist on the server.",
  rejectFields: "Fields: {fields}",
  enrollRefused: "The code was not accepted: it is wrong, used or expired. Ask for a new one.",
  enrollFailed: "Could not reach the server. Try again.",
  yes: "yes",
  no: "no",
  notSet: "—",
};

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  appName: "fieldsync",
  language: "English",
  online: "在线",
  offline: "离线",
  syncing: "同步中…",
  writesWaiting: "{n} 条待同步",
  allSynced: "已全部同步",
  photosWaiting: "{n} 张照片待上传",
  photoProgress: "已上传 {sent} / {size} KB",
  lastSync: "上次同步 {time}",
  neverSynced: "尚未同步",
  conflictsN: "{n} 处修改被覆盖",
  rejectionsN: "{n} 条被拒绝",
  photosFailedN: "{n} 张照片上传失败",
  updateReady: "新版本已就绪。",
  updateNow: "更新",
  navToday: "今日",
  navCustomers: "客户",
  navNew: "新建",
  navAlerts: "提醒",
  navSync: "同步",
  navManager: "管理",
  enrollTitle: "登记本设备",
  enrollHelp: "输入管理员提供的一次性登记码，或扫描二维码。",
  enrollCode: "登记码",
  deviceName: "设备名称",
  enroll: "登记",
  enrolling: "登记中…",
  scanQr: "扫描二维码",
  stopScan: "停止扫描",
  enrollOffline: "登记需要网络连接。",
  todayTitle: "今日",
  followUps: "今日待跟进",
  overdueOpps: "逾期商机",
  stockAlerts: "库存预警",
  upcoming: "即将到来",
  recent: "最近记录",
  nothing: "暂无。",
  commitmentDue: "承诺到期 {time}",
  commitmentOverdue: "承诺已逾期（{time}）",
  appointment: "预约 {time}",
  oppDue: "{title} — 截止 {time}",
  stockBelow: "{terminal} 的 {product}：库存 {onHand}，安全库存 {safety}",
  renderedIn: "{n} 条记录 · 计算用时 {ms} 毫秒",
  photosComplete: "照片齐全",
  photosPending: "照片待上传",
  pendingSync: "未同步",
  customersTitle: "客户",
  search: "搜索",
  briefTitle: "客户简报",
  keyCommitments: "最近 3 次接触的关键承诺",
  openCommitments: "未完成的承诺",
  noContacts: "尚无接触记录。",
  supervisor: "监理联系人",
  milestone: "最新验收节点",
  address: "地址",
  contacts: "联系人",
  requestSamples: "申请寄样",
  newVisit: "新建拜访",
  newSurgery: "新建跟台",
  newCommitment: "新建承诺",
  newDiagnosis: "新建诊断",
  newQuote: "新建报价",
  newFeedback: "活动物料反馈",
  unknownCustomer: "未知客户",
  customer: "客户",
  hospital: "医院",
  choose: "— 请选择 —",
  visitTitle: "拜访",
  visitKind: "拜访类型",
  kindRoutine: "例行拜访",
  kindDirector: "临床主任",
  kindProcurement: "采购",
  kindStoreCustomer: "门店客户",
  visitTime: "拜访时间",
  notes: "备注",
  actionTags: "行动价值",
  tag_first_contact: "首次接触",
  tag_price_negotiation: "价格谈判",
  tag_technical_demo: "技术演示",
  tag_decision_maker_confirmed: "确认决策人",
  coreProblem: "本次解决的核心问题",
  followUpCommitments: "后续承诺",
  nextAppointment: "下次预约时间",
  surgeryTitle: "跟台",
  surgeryTime: "手术时间",
  consumables: "使用的耗材",
  addConsumable: "添加型号",
  usageFeedback: "使用反馈",
  replenish: "申请补货",
  preOp: "术前准备照片",
  intraOp: "术中使用照片",
  postOp: "术后清点照片",
  takePhoto: "拍照",
  photoAttached: "已添加",
  diagnosisTitle: "诊断",
  vehicleModel: "车型",
  faultSymptoms: "故障现象",
  conclusion: "诊断结论",
  workItems: "建议项目（每行一项）",
  photos: "照片",
  addPhotos: "添加照片",
  quoteTitle: "报价",
  diagnosis: "诊断",
  citePhotos: "引用的诊断照片",
  noDiagnosisPhotos: "本设备上该诊断没有照片。",
  technical: "技术参数",
  technicalFilled: "已填写 {n} / 7 项技术参数",
  paramName: "名称",
  paramValue: "数值",
  total: "总价",
  currency: "币种",
  commitmentTitle: "承诺",
  description: "内容",
  dueTime: "到期时间",
  state: "状态",
  stateOpen: "进行中",
  stateDone: "已完成",
  stateCancelled: "已取消",
  markDone: "标记完成",
  feedbackTitle: "活动物料反馈",
  material: "活动物料",
  feedback: "反馈",
  rating: "评分（0–5）",
  shipmentTitle: "寄样申请",
  recipientName: "收件人",
  recipientPhone: "电话",
  recipientAddress: "地址",
  items: "物品",
  quantity: "数量",
  saveDraft: "保存草稿",
  submit: "提交",
  requestShipment: "提交寄样申请",
  draftSaved: "草稿已保存 {time}",
  saved: "已保存在本设备，联网后自动同步。",
  fixBeforeSubmit: "提交前请修正：",
  v_required: "必填",
  v_requiredOnSubmit: "提交时必填",
  v_requiredClinical: "临床主任拜访必填",
  v_requiredOnRequest: "申请寄样时必填",
  v_maxLen: "最多 {n} 个字符",
  v_minLen: "至少 {n} 个字符",
  v_maxItems: "最多 {n} 项",
  v_minItems: "至少 {n} 项",
  v_min: "不能小于 {n}",
  v_max: "不能大于 {n}",
  v_above: "必须大于 {n}",
  v_below: "必须小于 {n}",
  v_defined: "取值无效",
  v_pattern: "格式不正确",
  v_printableName: "须含可见字符，且不含控制字符",
  v_printableText: "除制表符和换行外不得含控制字符",
  v_invalid: "填写有误",
  discard: "放弃",
  newRecord: "新建记录",
  alertsTitle: "提醒与预警",
  acknowledge: "确认",
  acknowledged: "已确认 {time}",
  alert_1: "诊断结论冲突",
  alert_2: "补货",
  alert_3: "管理介入",
  alert_4: "陷入初次接触",
  alert_5: "成交停滞",
  alert_6: "重复照片",
  alert_7: "规则变更",
  alert_8: "设备未同步",
  alert_9: "新设备",
  a1Title: "客户 {customer_id} 的诊断结论冲突",
  a1Body: "该客户的 {diagnoses} 份诊断结论不一致。",
  a2Title: "{terminal} 需补货：{product}",
  a2TitleMany: "{terminal} 有 {products} 种产品需补货",
  a2Body: "库存 {on_hand}，低于安全库存 {safety_stock}。",
  a3Title: "区域 {region} 的 PHI 持续下滑",
  a4Title: "陷入初次接触",
  a4Body: "{rep} 连续 {weeks} 周的拜访标签以“{tag}”为主，请推动客户进入下一阶段。",
  a5Title: "决策人确认后无进展",
  a5Body: "客户 {customer_id} 的决策人已于 {date} 确认，此后没有拜访、承诺或商机变化。",
  a6Title: "同一张照片被用于 {records} 条记录",
  a7Title: "返利规则变更：{rule}",
  a7Body: "自 {valid_from} 起生效。打开报价查看当前返利。",
  a8Title: "{user} 的设备有未同步的修改",
  a8Body: "设备“{device}”自 {since} 起有 {outbox} 条修改未同步。",
  a9Title: "“{device}”以你的身份登记",
  a9Body: "{platform}，{time}，登记码来自 {by}。不是你的？请告诉管理员。",
  syncTitle: "同步",
  syncNow: "立即同步",
  conflictsTitle: "在合并中被覆盖的修改",
  conflictLine: "{field}：你的“{losing}”被“{winning}”覆盖（{reason}）",
  lossOlder: "较新的修改优先",
  lossFrozen: "记录提交后已锁定",
  lossDeleted: "记录已被删除",
  rejectionsTitle: "被服务器拒绝的修改",
  photoQueue: "照片上传",
  signOut: "退出登录",
  signOutUnsynced: "仍有修改未同步，仍要退出吗？",
  revokedTitle: "此设备已被停用",
  revokedHelp: "服务器不再接受此设备：管理员已将其停用。此后不再发送或接收数据。请向管理员索取新的注册码以继续使用。",
  revokedUnsent: "有 {n} 条修改和 {photos} 张照片尚未发送，仍保存在此设备上。重新注册前请先保存修改的副本。",
  revokedSave: "保存未发送的修改",
  revokedReenroll: "重新注册",
  revokedConfirm: "重新注册会删除此设备上的数据，包括 {n} 条未发送的修改和 {photos} 张未发送的照片。继续吗？",
  revokedConfirmUnknown: "重新注册会删除此设备上的数据，包括所有尚未发送的修改和照片。继续吗？",
  device: "设备 {id}",
  managerTitle: "管理看板",
  managerSoon: "管理看板（PHI、预警收件箱、设备状态）将在后续版本提供。",
  error: "错误：{msg}",
  justNow: "刚刚",
  queue_0: "等待上传",
  queue_1: "上传中",
  queue_2: "已上传",
  queue_3: "上传失败",
  reject_1: "填写的内容不符合表单规则。",
  reject_2: "你无权写入此记录。",
  reject_3: "修改了只能由服务器设置的字段。",
  reject_4: "服务器不认识这种记录。",
  reject_5: "服务器上没有这条记录。",
  rejectFields: "字段：{fields}",
  enrollRefused: "登记码无效：错误、已使用或已过期。请向管理员索取新的登记码。",
  enrollFailed: "无法连接服务器，请重试。",
  yes: "是",
  no: "否",
  notSet: "—",
};

export type Lang = "en" | "zh-CN";
export const dictionaries: Record<Lang, Record<Key, string>> = { en, "zh-CN": zh };

const STORE_KEY = "fieldsync.lang";

/** The language to use: the user's choice, else the browser's. */
export function pickLang(stored: string | null, navigatorLang: string | undefined): Lang {
  if (stored === "en" || stored === "zh-CN") return stored;
  return navigatorLang?.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

let lang: Lang = pickLang(
  typeof localStorage !== "undefined" ? localStorage.getItem(STORE_KEY) : null,
  typeof navigator !== "undefined" ? navigator.language : undefined,
);

/** The current language. */
export function currentLang(): Lang {
  return lang;
}

/** Switches language (kept for the next open). */
export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem(STORE_KEY, l);
  document.documentElement.lang = l;
}

/** The text of key in the current language with {name} placeholders filled. */
export function t(key: Key, params: Record<string, string | number> = {}): string {
  return dictionaries[lang][key].replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? ""));
}

/**
 * An alert's title and body in the current language, worded from its kind
 * and facts (Alert.params); the server's English title and body for an
 * alert without them (one raised before the server wrote params).
 */
export function alertWords(a: { kind: number; title: string; body: string; params: readonly { name: string; value: string }[] }, names?: Map<string, string>): { title: string; body: string } {
  const p: Record<string, string> = {};
  for (const x of a.params) p[x.name] = paramWords(x.name, x.value, names);
  if (a.params.length === 0 || a.kind < 1 || a.kind > 9) return { title: a.title, body: a.body };
  const k = `a${a.kind}` as const;
  const title = a.kind === 2 && p.products ? t("a2TitleMany", p) : t(`${k}Title` as Key, p);
  const bodyKey = `${k}Body` as Key;
  const body = bodyKey in dictionaries.en && !(a.kind === 2 && p.products) ? t(bodyKey, p) : "";
  return { title, body };
}

/** One fact of an alert in words: an id by its name where names has it, a visit tag by its words, a date or time formatted. */
function paramWords(name: string, value: string, names?: Map<string, string>): string {
  const known = names?.get(value);
  if (known) return known;
  if (name === "tag" && `tag_${value}` in dictionaries.en) return t(`tag_${value}` as Key);
  return fmtWireTime(value);
}

/** Standard buf.validate rules (the last part of their id) → the words for them. */
const RULE_WORDS: Record<string, Key> = {
  required: "v_required", min_len: "v_minLen", max_len: "v_maxLen", min_items: "v_minItems", max_items: "v_maxItems",
  gte: "v_min", lte: "v_max", gt: "v_above", lt: "v_below", defined_only: "v_defined", pattern: "v_pattern",
  printable_name: "v_printableName", printable_text: "v_printableText", // fieldsync's own (proto/fieldsync/v1/text.proto)
};
/** The record types' own rules (their id's last part: "visit.core_problem_solved.required") → the words for them. */
const RECORD_RULE_WORDS: Record<string, Key> = { required_on_submit: "v_requiredOnSubmit", required: "v_requiredClinical", required_on_request: "v_requiredOnRequest" };

/**
 * A validation message in the current language, from a violation's rule id
 * and the rule's value (not the server's English); for a rule these words
 * do not cover, the rule's English message in English, "is not valid" in
 * its words otherwise.
 */
export function violationWords(v: { ruleId: string; value: string; message: string }): string {
  const parts = v.ruleId.split(".");
  const key = parts.length === 3 && !(parts[0] in { string: 1, repeated: 1, bytes: 1 }) ? RECORD_RULE_WORDS[parts[2]] : RULE_WORDS[parts[parts.length - 1]];
  if (key) return t(key, { n: v.value });
  return lang === "en" ? v.message : t("v_invalid"); // the rule's own words are English
}

const MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => (n < 10 ? "0" : "") + n;

/*
 * Dates and times are written as Intl writes them for "en" and "zh-CN"
 * (Intl.DateTimeFormat with month "short", day "numeric", 24-hour time, the
 * year only when it is not this year; Intl.RelativeTimeFormat with style
 * "short"), but by hand: making the first Intl formatter loads the locale's
 * ICU data, 100+ ms at CPU 4× on the main thread of an open (seen in a CDP
 * trace), for a few fixed patterns. test/i18n.test.ts checks each pattern
 * against Intl's own output.
 */

/** A date (no time) in language l: "Dec 1", "12月1日"; with the year when it is not now's: "Dec 1, 2025", "2025年12月1日". */
export function formatDate(d: Date, l: Lang, now = new Date()): string {
  const y = d.getFullYear() !== now.getFullYear();
  if (l === "zh-CN") return `${y ? d.getFullYear() + "年" : ""}${d.getMonth() + 1}月${d.getDate()}日`;
  return `${MONTHS_EN[d.getMonth()]} ${d.getDate()}${y ? ", " + d.getFullYear() : ""}`;
}

/** A date and time in language l, in the device's time zone: "Dec 1, 09:30", "12月1日 09:30" (the year as formatDate adds it). */
export function formatTime(d: Date, l: Lang, now = new Date()): string {
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  return `${formatDate(d, l, now)}${l === "zh-CN" ? " " : ", "}${hm}`;
}

/**
 * How long ago (or how far ahead) d is from now in language l, short:
 * "just now" within the last minute ("in 40 sec." for the next), then "5 min. ago", "2 hr. ago", "3 days ago"
 * ("5分钟前", "2小时前", "3天前"; ahead: "in 2 hr.", "2小时后"); beyond a
 * week, the date and time (formatTime).
 */
export function formatAgo(d: Date, l: Lang, now = new Date()): string {
  const ms = now.getTime() - d.getTime();
  const abs = Math.abs(ms);
  if (abs < 60_000 && ms >= 0) return dictionaries[l].justNow;
  if (abs < 60_000) {
    const n = Math.max(1, Math.floor(abs / 1000)); // a deadline soon: the seconds left
    return l === "zh-CN" ? `${n}秒后` : `in ${n} sec.`;
  }
  if (abs >= 7 * 86_400_000) return formatTime(d, l, now);
  const [n, unit] = abs < 3_600_000 ? [Math.floor(abs / 60_000), "m"] : abs < 86_400_000 ? [Math.floor(abs / 3_600_000), "h"] : [Math.floor(abs / 86_400_000), "d"];
  const past = ms > 0;
  if (l === "zh-CN") return `${n}${unit === "m" ? "分钟" : unit === "h" ? "小时" : "天"}${past ? "前" : "后"}`;
  const u = unit === "m" ? "min." : unit === "h" ? "hr." : n === 1 ? "day" : "days";
  return past ? `${n} ${u} ago` : `in ${n} ${u}`;
}

/** A date and time in the current language, short ("" when unset). */
export function fmtTime(d: Date | undefined | null): string {
  return d ? formatTime(d, lang) : "";
}

/** A date in the current language ("" when unset). */
export function fmtDate(d: Date | undefined | null): string {
  return d ? formatDate(d, lang) : "";
}

/** How long ago d was, in the current language ("" when unset). */
export function fmtAgo(d: Date | undefined | null): string {
  return d ? formatAgo(d, lang) : "";
}

/**
 * A date or time the server wrote as text (an alert's facts): "2026-12-01"
 * as a date, RFC 3339 as a date and time, in the current language; other
 * text as it is.
 */
export function fmtWireTime(s: string): string {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (day) return fmtDate(new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const d = new Date(s);
    if (!Number.isNaN(d.getTime())) return fmtTime(d);
  }
  return s;
}
