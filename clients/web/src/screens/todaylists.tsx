import { fmtTime, t } from "../i18n";
import type { Today, TodayItem } from "../todaycore";

/** How many lines each list shows before "+N". */
const SHOW = 30;

/** Today's lists (no SDK needed: the live screen and the snapshot shown while the SDK loads both draw them). */
export function TodayLists({ today, names }: { today: Today; names: Map<string, string> }) {
  return (
    <>
      {today.unacknowledgedAlerts > 0 && <a class="banner" href="#/alerts">{t("navAlerts")} · {today.unacknowledgedAlerts}</a>}
      <List title={t("followUps")} items={today.followUps} names={names} id="followups" />
      <List title={t("overdueOpps")} items={today.overdueOpportunities} names={names} id="overdue" />
      <List title={t("stockAlerts")} items={today.stockAlerts} names={names} id="stock" />
      <List title={t("upcoming")} items={today.upcoming} names={names} id="upcoming" />
    </>
  );
}

function List({ title, items, names, id }: { title: string; items: TodayItem[]; names: Map<string, string>; id: string }) {
  return (
    <div class="list" data-list={id}>
      <h2>{title} <span class="count">{items.length}</span></h2>
      {items.length === 0 && <p class="muted">{t("nothing")}</p>}
      <ul>
        {items.slice(0, SHOW).map((i) => <li key={i.id}><Line item={i} names={names} /></li>)}
      </ul>
      {items.length > SHOW && <p class="muted">+{items.length - SHOW}</p>}
    </div>
  );
}

function Line({ item: i, names }: { item: TodayItem; names: Map<string, string> }) {
  switch (i.kind) {
    case "commitment":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {i.text} <span class={i.overdue ? "warn" : "muted"}>{t(i.overdue ? "commitmentOverdue" : "commitmentDue", { time: fmtTime(i.due) })}</span></a>;
    case "appointment":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {t("appointment", { time: fmtTime(i.at) })} {i.text && <span class="muted">{i.text}</span>}</a>;
    case "opportunity":
      return <a href={`#/customer/${i.customerId}`}><b>{names.get(i.customerId) ?? i.customerId}</b> · {t("oppDue", { title: i.title, time: fmtTime(i.due) })}</a>;
    case "stock":
      return <span>{t("stockBelow", { product: i.productId, terminal: names.get(i.terminalId) ?? i.terminalId, onHand: String(i.onHand), safety: String(i.safety) })}</span>;
  }
}
