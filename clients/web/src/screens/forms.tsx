import { create, type Message } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import {
  CampaignFeedbackSchema, CommitmentSchema, CommitmentState, DiagnosisSchema, FieldsyncError, loadValidation, QuoteSchema, RecordStatus, SampleShipmentSchema,
  ShipmentItemSchema, ShipmentState, SurgerySupportSchema, TechnicalParameterSchema, VisitKind, VisitSchema, type PhotoRef,
  type Violation,
} from "@fieldsync/client";
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { type Data } from "../data";
import { dropDraft, listDrafts, loadDraft, saveDraft } from "../drafts";
import { go, useData } from "../hooks";
import { fmtTime, t, violationWords, type Key } from "../i18n";
import { changed, profile, session } from "../session";
import { shipmentFromCustomer } from "../shipment";
import { CitedPhotos } from "./thumbs";
import { fieldWords } from "../words";

/** The forms, by route name: title, record type, and the fields' starting values. */
const FORMS = {
  visit: { title: "visitTitle", schema: VisitSchema },
  surgery: { title: "surgeryTitle", schema: SurgerySupportSchema },
  diagnosis: { title: "diagnosisTitle", schema: DiagnosisSchema },
  quote: { title: "quoteTitle", schema: QuoteSchema },
  commitment: { title: "commitmentTitle", schema: CommitmentSchema },
  feedback: { title: "feedbackTitle", schema: CampaignFeedbackSchema },
  shipment: { title: "shipmentTitle", schema: SampleShipmentSchema },
} as const;
type FormType = keyof typeof FORMS;

/**
 * Who may write each form's record (writer_roles in records.proto; Role:
 * 1 rep, 2 store staff, 3 store manager, 4 regional director, 5 tech advisor).
 */
const WRITERS: Record<FormType, readonly number[]> = {
  visit: [1, 2, 3, 4, 5], surgery: [1, 4], diagnosis: [2, 3, 5], quote: [2, 3], commitment: [1, 2, 3, 4, 5], feedback: [1, 2, 3], shipment: [1, 2, 3, 4],
};

/** The forms the device's user may submit (all of them before the server said who the user is). */
function formsFor(role: number | undefined): FormType[] {
  return (Object.keys(FORMS) as FormType[]).filter((k) => !role || WRITERS[k].includes(role));
}

/** Proto field → label, for violations and photo slots. */
const LABELS: Record<string, Key> = {
  customer_id: "customer", visit_time: "visitTime", kind: "visitKind", core_problem_solved: "coreProblem",
  follow_up_commitments: "followUpCommitments", next_appointment_time: "nextAppointment", action_tags: "actionTags",
  hospital_id: "hospital", surgery_time: "surgeryTime", consumable_models: "consumables", pre_op_photo: "preOp",
  intra_op_photo: "intraOp", post_op_count_photo: "postOp", conclusion: "conclusion", photos: "photos", diagnosis_id: "diagnosis",
  diagnosis_photo_sha256s: "citePhotos", recipient_address: "recipientAddress", items: "items", description: "description",
};
const TAGS = ["first_contact", "price_negotiation", "technical_demo", "decision_maker_confirmed"] as const;
const STAGES = [["pre_op_photo", "preOp"], ["intra_op_photo", "intraOp"], ["post_op_count_photo", "postOp"]] as const;
const TECH_FIELDS = 7;

type V = Record<string, any>;

/** "New": the forms, and the drafts waiting to be finished. */
export function NewMenu({ customerId }: { customerId: string }) {
  const drafts = listDrafts();
  const open = (type: FormType) => go(`/form/${type}/${session()!.client.newId()}${customerId ? `?customer=${customerId}` : ""}`);
  return (
    <section>
      <h1>{t("newRecord")}</h1>
      <div class="grid">
        {formsFor(profile()?.role).filter((k) => k !== "shipment").map((k) => (
          <button key={k} data-form={k} onClick={() => open(k)}>{t(FORMS[k].title)}</button>
        ))}
      </div>
      {drafts.length > 0 && <h2>{t("saveDraft")}</h2>}
      <ul class="links">
        {drafts.map(({ id, draft }) => (
          <li key={id}><a href={`#/form/${draft.type}/${id}`}>{t(FORMS[draft.type as FormType]?.title ?? "newRecord")}</a> <span class="muted small">{t("draftSaved", { time: fmtTime(new Date(draft.saved)) })}</span></li>
        ))}
      </ul>
    </section>
  );
}

/** B3: one tap pre-fills a shipment request from the customer's data and opens it for review. */
export function startShipment(data: Data, customerId: string): void {
  const customer = data.customers.find((c) => c.id === customerId)!.value;
  const used = data.surgeries.filter((s) => s.value.hospitalId === customerId).flatMap((s) => s.value.consumableModels);
  const s = shipmentFromCustomer(customer, customerId, used);
  const id = session()!.client.newId();
  saveDraft(id, { type: "shipment", saved: Date.now(), v: {
    customer_id: customerId, recipient_name: s.recipientName, recipient_phone: s.recipientPhone, recipient_address: s.recipientAddress,
    items: s.items.map((i) => ({ product: i.productId, qty: i.quantity })), notes: "",
  } });
  go(`/form/shipment/${id}`);
}

function initial(type: FormType, query: URLSearchParams): V {
  const now = localInput(new Date());
  const customer = query.get("customer") ?? "";
  switch (type) {
    case "visit": return { customer_id: customer, kind: VisitKind.ROUTINE, visit_time: now, notes: "", action_tags: [], core_problem_solved: "", follow_up_commitments: "", next_appointment_time: "" };
    case "surgery": return { hospital_id: customer, surgery_time: now, consumable_models: [], usage_feedback: "", replenishment_requested: false };
    case "diagnosis": return { customer_id: customer, vehicle_model: "", fault_symptoms: "", conclusion: "", work_items: "" };
    case "quote": return { customer_id: customer, diagnosis_id: "", cited: [], params: Array.from({ length: TECH_FIELDS }, () => ({ name: "", value: "" })), work_items: "", total: "", currency: "CNY" };
    case "commitment": return { customer_id: customer, description: "", due_time: "", state: CommitmentState.OPEN };
    case "feedback": return { material_id: "", feedback: "", rating: 0 };
    case "shipment": return { customer_id: customer, recipient_name: "", recipient_phone: "", recipient_address: "", items: [], notes: "" };
  }
}

/** A record's form: drafts saved as the user types, photos attached at once, the SDK's validation at submit. */
export function FormScreen({ type: typeName, id, query }: { type: string; id: string; query: URLSearchParams }) {
  const type = (typeName in FORMS ? typeName : "visit") as FormType;
  const data = useData();
  const [v, setV] = useState<V>(() => ({ ...initial(type, query), ...(loadDraft(id)?.v ?? {}) }));
  const [saved, setSaved] = useState<number>(() => loadDraft(id)?.saved ?? 0);
  const [refs, setRefs] = useState<Message | undefined>(undefined);
  const [problems, setProblems] = useState<Violation[]>([]);
  const [tried, setTried] = useState(false);
  const [err, setErr] = useState("");
  const schema = FORMS[type].schema;
  const client = session()!.client;
  const reloadRefs = () => client.get(schema, id).then((r) => setRefs(r));
  useEffect(() => void reloadRefs(), [id]);
  // The validator (protovalidate) is a chunk of its own, loaded once a form opens, not with Today.
  useEffect(() => void loadValidation().catch(() => undefined), []);
  // Once a submit was refused, the messages follow the edits.
  useEffect(() => {
    if (!tried) return;
    let live = true;
    void loadValidation().then(({ validate }) => live && setProblems(validate(build(type, v, refs as V | undefined))));
    return () => void (live = false);
  }, [v, refs, tried]);

  const set = (name: string, value: unknown) => {
    setV((old) => {
      const next = { ...old, [name]: value };
      const at = Date.now();
      saveDraft(id, { type, v: next, saved: at });
      setSaved(at);
      return next;
    });
  };
  const attach = async (slot: string, files: FileList | null) => {
    setErr("");
    // The photo is written to the record at once: until submitted, the record is a draft.
    if (!refs) {
      const draft: Message & { status?: RecordStatus } = create(schema); // the photo forms' records all have a status
      draft.status = RecordStatus.DRAFT;
      await client.put(id, draft, ["status"]);
    }
    for (const f of Array.from(files ?? [])) {
      try {
        await client.addPhoto(schema.typeName, id, slot, f);
      } catch (e) {
        setErr(e instanceof Error ? e.message : String(e));
      }
    }
    await reloadRefs();
    changed();
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    const msg = build(type, v, refs as V | undefined);
    const { validate } = await loadValidation();
    const vs = validate(msg);
    setProblems(vs);
    setTried(true);
    if (vs.length) return;
    try {
      await client.put(id, msg); // the SDK checks the record as it will read locally, too
      dropDraft(id);
      changed();
      go("/today");
    } catch (x) {
      if (x instanceof FieldsyncError && x.code === "invalid") setProblems([...x.violations]);
      else setErr(x instanceof Error ? x.message : String(x));
    }
  };
  /** Drops the draft, and the draft record its photos made (never a submitted one). */
  const discard = async () => {
    dropDraft(id);
    const r = refs as V | undefined;
    if (r && r.status !== RecordStatus.SUBMITTED) await client.delete(schema.typeName, id).catch(() => undefined);
    changed();
    go("/new");
  };
  const bad = new Set(problems.map(fieldOf));
  const p = { v, set, bad };
  if (!data) return <p>…</p>;
  const customers = data.customers.map((c) => [c.id, c.value.name || c.id] as [string, string]);
  return (
    <form class="form" onSubmit={submit} data-testid={`form-${type}`}>
      <h1>{t(FORMS[type].title)}</h1>
      {type === "visit" && <>
        <Select {...p} name="customer_id" label="customer" options={customers} />
        <Select {...p} name="kind" label="visitKind" numeric options={[[VisitKind.ROUTINE, t("kindRoutine")], [VisitKind.CLINICAL_DIRECTOR, t("kindDirector")], [VisitKind.PROCUREMENT, t("kindProcurement")], [VisitKind.STORE_CUSTOMER, t("kindStoreCustomer")]]} />
        <Input {...p} name="visit_time" label="visitTime" type="datetime-local" />
        <Checks {...p} name="action_tags" label="actionTags" options={TAGS.map((k) => [k, t(`tag_${k}`)])} />
        <Area {...p} name="notes" label="notes" />
        <fieldset class={Number(v.kind) === VisitKind.CLINICAL_DIRECTOR ? "required" : ""}>
          <Area {...p} name="core_problem_solved" label="coreProblem" />
          <Area {...p} name="follow_up_commitments" label="followUpCommitments" />
          <Input {...p} name="next_appointment_time" label="nextAppointment" type="datetime-local" />
        </fieldset>
      </>}
      {type === "surgery" && <>
        <Select {...p} name="hospital_id" label="hospital" options={customers} />
        <Input {...p} name="surgery_time" label="surgeryTime" type="datetime-local" />
        <Checks {...p} name="consumable_models" label="consumables" options={pickList(data, v.consumable_models).map((m) => [m, m])} />
        <AddItem onAdd={(m) => set("consumable_models", [...v.consumable_models, m])} />
        <Area {...p} name="usage_feedback" label="usageFeedback" />
        <label class="check"><input type="checkbox" checked={v.replenishment_requested} onChange={(e) => set("replenishment_requested", e.currentTarget.checked)} />{t("replenish")}</label>
        {STAGES.map(([slot, label]) => (
          <Photo key={slot} slot={slot} label={label} bad={bad.has(slot)} attached={!!(refs as V | undefined)?.[camel(slot)]} onPick={(f) => void attach(slot, f)} />
        ))}
      </>}
      {type === "diagnosis" && <>
        <Select {...p} name="customer_id" label="customer" options={customers} />
        <Input {...p} name="vehicle_model" label="vehicleModel" />
        <Area {...p} name="fault_symptoms" label="faultSymptoms" />
        <Area {...p} name="conclusion" label="conclusion" />
        <Area {...p} name="work_items" label="workItems" />
        <label class={bad.has("photos") ? "bad" : ""}>{t("addPhotos")} ({((refs as V | undefined)?.photos ?? []).length})
          <input type="file" accept="image/*" capture="environment" multiple data-slot="photos" onChange={(e) => void attach("photos", e.currentTarget.files)} />
        </label>
      </>}
      {type === "quote" && <QuoteFields p={p} data={data} customers={customers} />}
      {type === "commitment" && <>
        <Select {...p} name="customer_id" label="customer" options={customers} />
        <Area {...p} name="description" label="description" />
        <Input {...p} name="due_time" label="dueTime" type="datetime-local" />
        <Select {...p} name="state" label="state" numeric options={[[CommitmentState.OPEN, t("stateOpen")], [CommitmentState.DONE, t("stateDone")], [CommitmentState.CANCELLED, t("stateCancelled")]]} />
      </>}
      {type === "feedback" && <>
        <Select {...p} name="material_id" label="material" options={data.materials.map((m) => [m.id, m.value.title || m.id])} />
        <Area {...p} name="feedback" label="feedback" />
        <Input {...p} name="rating" label="rating" type="number" />
      </>}
      {type === "shipment" && <>
        <p><b>{t("customer")}:</b> {customers.find(([cid]) => cid === v.customer_id)?.[1] ?? v.customer_id}</p>
        <Input {...p} name="recipient_name" label="recipientName" />
        <Input {...p} name="recipient_phone" label="recipientPhone" />
        <Area {...p} name="recipient_address" label="recipientAddress" />
        <fieldset class={bad.has("items") ? "bad" : ""}><legend>{t("items")}</legend>
          {(v.items as { product: string; qty: number }[]).map((it, i) => (
            <div class="row" key={i}><span>{it.product}</span>
              <input type="number" min={1} max={1000} aria-label={t("quantity")} value={it.qty} onInput={(e) => set("items", v.items.map((x: V, j: number) => (j === i ? { ...x, qty: Number(e.currentTarget.value) } : x)))} /></div>
          ))}
          <AddItem onAdd={(m) => set("items", [...v.items, { product: m, qty: 1 }])} />
        </fieldset>
        <Area {...p} name="notes" label="notes" />
      </>}
      {problems.length > 0 && (
        <div class="error" role="alert" data-testid="violations"><p>{t("fixBeforeSubmit")}</p>
          <ul>{problems.map((x, i) => <li key={i} data-rule={x.ruleId}><b>{LABELS[fieldOf(x)] ? t(LABELS[fieldOf(x)]) : fieldWords(fieldOf(x).slice(fieldOf(x).lastIndexOf(".") + 1)) || fieldOf(x)}</b>: {violationWords(x)}</li>)}</ul>
        </div>
      )}
      {err && <p class="error" role="alert">{err}</p>}
      <div class="actions">
        <button type="submit">{type === "shipment" ? t("requestShipment") : t("submit")}</button>
        <button type="button" class="secondary" onClick={() => void discard()}>{t("discard")}</button>
      </div>
      {saved > 0 && <p class="muted small" data-testid="draft-saved">{t("draftSaved", { time: fmtTime(new Date(saved)) })}</p>}
    </form>
  );
}

function QuoteFields({ p, data, customers }: { p: FieldProps; data: Data; customers: [string, string][] }) {
  const { v, set } = p;
  const diagnoses = data.diagnoses.filter((d) => !v.customer_id || d.value.customerId === v.customer_id);
  const diag = data.diagnoses.find((d) => d.id === v.diagnosis_id)?.value;
  const params = v.params as { name: string; value: string }[];
  const filled = params.filter((x) => x.name.trim() && x.value.trim()).length;
  return <>
    <Select {...p} name="customer_id" label="customer" options={customers} />
    <Select {...p} name="diagnosis_id" label="diagnosis" options={diagnoses.map((d) => [d.id, `${d.value.conclusion || d.id} · ${d.value.vehicleModel}`])} />
    {diag && (diag.photos.length === 0
      ? <p class="muted">{t("noDiagnosisPhotos")}</p>
      : <CitedPhotos photos={diag.photos.map((ph) => ph.sha256)} cited={v.cited as string[]} bad={p.bad.has("cited")} onChange={(c) => set("cited", c)} />)}
    <fieldset><legend>{t("technical")} — <span data-testid="tech-count">{t("technicalFilled", { n: filled })}</span></legend>
      {params.map((x, i) => (
        <div class="row" key={i}>
          <input placeholder={t("paramName")} value={x.name} onInput={(e) => set("params", params.map((y, j) => (j === i ? { ...y, name: e.currentTarget.value } : y)))} />
          <input placeholder={t("paramValue")} value={x.value} onInput={(e) => set("params", params.map((y, j) => (j === i ? { ...y, value: e.currentTarget.value } : y)))} />
        </div>
      ))}
    </fieldset>
    <Area {...p} name="work_items" label="workItems" />
    <div class="row"><Input {...p} name="total" label="total" type="number" /><Input {...p} name="currency" label="currency" /></div>
  </>;
}

/** The consumable models to pick from: the region's stock products and the models used before, plus what is picked. */
function pickList(d: Data, picked: string[]): string[] {
  const all = new Set<string>([...d.stock.map((s) => s.value.productId), ...d.surgeries.flatMap((s) => s.value.consumableModels), ...picked]);
  return [...all].filter(Boolean).sort().slice(0, 200);
}

/** The record a form submits: status SUBMITTED (a shipment: REQUESTED), photos as attached. */
function build(type: FormType, v: V, refs: V | undefined): Message {
  const ts = (s: string) => (s ? timestampFromDate(new Date(s)) : undefined);
  const lines = (s: string) => s.split("\n").map((x) => x.trim()).filter(Boolean);
  const submitted = RecordStatus.SUBMITTED;
  switch (type) {
    case "visit": return create(VisitSchema, {
      status: submitted, customerId: v.customer_id, kind: Number(v.kind), visitTime: ts(v.visit_time), notes: v.notes, actionTags: v.action_tags,
      coreProblemSolved: v.core_problem_solved, followUpCommitments: v.follow_up_commitments, nextAppointmentTime: ts(v.next_appointment_time),
    });
    case "surgery": return create(SurgerySupportSchema, {
      status: submitted, hospitalId: v.hospital_id, surgeryTime: ts(v.surgery_time), consumableModels: v.consumable_models,
      usageFeedback: v.usage_feedback, replenishmentRequested: v.replenishment_requested,
      preOpPhoto: refs?.preOpPhoto as PhotoRef | undefined, intraOpPhoto: refs?.intraOpPhoto as PhotoRef | undefined, postOpCountPhoto: refs?.postOpCountPhoto as PhotoRef | undefined,
    });
    case "diagnosis": return create(DiagnosisSchema, {
      status: submitted, customerId: v.customer_id, vehicleModel: v.vehicle_model, faultSymptoms: v.fault_symptoms, conclusion: v.conclusion,
      suggestedWorkItems: lines(v.work_items), photos: (refs?.photos as PhotoRef[] | undefined) ?? [],
    });
    case "quote": return create(QuoteSchema, {
      status: submitted, customerId: v.customer_id, diagnosisId: v.diagnosis_id, diagnosisPhotoSha256s: v.cited, workItems: lines(v.work_items),
      technicalParameters: (v.params as { name: string; value: string }[]).filter((x) => x.name.trim()).map((x) => create(TechnicalParameterSchema, { name: x.name.trim(), value: x.value.trim() })),
      totalCents: BigInt(Math.round(Number(v.total || 0) * 100)), currency: v.currency,
    });
    case "commitment": return create(CommitmentSchema, { customerId: v.customer_id, description: v.description, dueTime: ts(v.due_time), state: Number(v.state) });
    case "feedback": return create(CampaignFeedbackSchema, { materialId: v.material_id, feedback: v.feedback, rating: Number(v.rating) });
    case "shipment": return create(SampleShipmentSchema, {
      status: submitted, state: ShipmentState.REQUESTED, customerId: v.customer_id, recipientName: v.recipient_name, recipientPhone: v.recipient_phone,
      recipientAddress: v.recipient_address, notes: v.notes, requestedTime: timestampNow(),
      items: (v.items as { product: string; qty: number }[]).map((i) => create(ShipmentItemSchema, { productId: i.product, quantity: i.qty })),
    });
  }
}

/** The field a violation is about: its path, or a message rule's field (its id's middle part). */
function fieldOf(x: Violation): string {
  return x.field || x.ruleId.split(".")[1] || "";
}

const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

/** "YYYY-MM-DDTHH:mm" in local time, for datetime-local inputs. */
function localInput(d: Date): string {
  const z = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}T${z(d.getHours())}:${z(d.getMinutes())}`;
}

interface FieldProps { v: V; set: (name: string, value: unknown) => void; bad: Set<string> }

function Field({ label, name, bad, children }: { label: Key; name: string; bad: Set<string>; children: ComponentChildren }) {
  return <label class={bad.has(name) ? "bad" : ""} data-field={name}>{t(label)}{children}</label>;
}

function Input({ v, set, bad, name, label, type = "text" }: FieldProps & { name: string; label: Key; type?: string }) {
  return <Field label={label} name={name} bad={bad}><input name={name} type={type} value={v[name]} aria-invalid={bad.has(name)} onInput={(e) => set(name, e.currentTarget.value)} /></Field>;
}

function Area({ v, set, bad, name, label }: FieldProps & { name: string; label: Key }) {
  return <Field label={label} name={name} bad={bad}><textarea name={name} value={v[name]} aria-invalid={bad.has(name)} onInput={(e) => set(name, e.currentTarget.value)} /></Field>;
}

function Select({ v, set, bad, name, label, options, numeric }: FieldProps & { name: string; label: Key; options: [string | number, string][]; numeric?: boolean }) {
  return (
    <Field label={label} name={name} bad={bad}>
      <select name={name} value={String(v[name])} aria-invalid={bad.has(name)} onChange={(e) => set(name, numeric ? Number(e.currentTarget.value) : e.currentTarget.value)}>
        {!numeric && <option value="">{t("choose")}</option>}
        {options.map(([k, text]) => <option key={k} value={String(k)}>{text}</option>)}
      </select>
    </Field>
  );
}

function Checks({ v, set, bad, name, label, options }: FieldProps & { name: string; label: Key; options: [string, string][] }) {
  const on = new Set<string>(v[name]);
  return (
    <fieldset class={bad.has(name) ? "bad chips" : "chips"} data-field={name}><legend>{t(label)}</legend>
      {options.map(([k, text]) => (
        <label key={k} class="chip"><input type="checkbox" value={k} checked={on.has(k)} onChange={(e) => set(name, e.currentTarget.checked ? [...on, k] : [...on].filter((x) => x !== k))} />{text}</label>
      ))}
    </fieldset>
  );
}

function AddItem({ onAdd }: { onAdd: (s: string) => void }) {
  const [s, setS] = useState("");
  return (
    <div class="row">
      <input placeholder={t("addConsumable")} value={s} onInput={(e) => setS(e.currentTarget.value)} data-testid="add-item" />
      <button type="button" class="secondary" onClick={() => (s.trim() && onAdd(s.trim()), setS(""))}>+</button>
    </div>
  );
}

function Photo({ slot, label, attached, bad, onPick }: { slot: string; label: Key; attached: boolean; bad: boolean; onPick: (f: FileList | null) => void }) {
  return (
    <label class={`photo ${bad ? "bad" : ""} ${attached ? "ok" : ""}`} data-slot={slot}>
      {t(label)} {attached ? <span class="tag ok">{t("photoAttached")}</span> : <span class="tag">{t("takePhoto")}</span>}
      <input type="file" accept="image/*" capture="environment" data-slot={slot} onChange={(e) => onPick(e.currentTarget.files)} />
    </label>
  );
}
