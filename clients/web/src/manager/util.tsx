/** Small helpers the managers' screens share: who is asking, async loading, timestamps. */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";
import type { WhoAmIResponse } from "@fieldsync/client";
import { fmtTime } from "../i18n";
import { api } from "./api";
import { m } from "./text";

let whoP: Promise<WhoAmIResponse> | null = null;

/** The caller as the server knows them (asked once per page). */
export function whoAmI(): Promise<WhoAmIResponse> {
  whoP ??= api().then((a) => a.identity.whoAmI({})).catch((err) => ((whoP = null), Promise.reject(err)));
  return whoP;
}

/** The state of one async load. */
export type Loaded<T> = { state: "loading" } | { state: "error"; msg: string } | { state: "done"; value: T };

/** Runs load when deps change; reload() runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [res, setRes] = useState<Loaded<T>>({ state: "loading" });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setRes({ state: "loading" });
    load().then((value) => live && setRes({ state: "done", value }), (err) => live && setRes({ state: "error", msg: errText(err) }));
    return () => void (live = false);
  }, [...deps, n]);
  return [res, () => setN((x) => x + 1)];
}

/** An error's message for a person: a Connect error's raw message (the server's words), else the text. */
export function errText(err: unknown): string {
  const e = err as { rawMessage?: string; message?: string };
  if (!navigator.onLine) return m("needsNetwork");
  return e?.rawMessage ?? e?.message ?? String(err);
}

/** What a pending or failed load shows; null once done. */
export function Status<T>({ res }: { res: Loaded<T> }) {
  if (res.state === "loading") return <p class="muted">{m("loading")}</p>;
  if (res.state === "error") return <p class="error" data-testid="mgr-error">{m("failed", { msg: res.msg })}</p>;
  return null;
}

/** A Timestamp as a Date (undefined when unset). */
export function tsToDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

/** A Timestamp, short, in the app's language ("" when unset). */
export function fmtTs(ts: Timestamp | undefined): string {
  return fmtTime(tsToDate(ts));
}
