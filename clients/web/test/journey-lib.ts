// What the browser journeys against fieldsyncd's own origin and the budget
// bench share: Debian's Chromium (never a downloaded one), enrollment codes
// from the demo's admin API, enrolling a page, waiting for a settled sync.
import { existsSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import type { TestServer } from "./server.js";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

/** Launches Debian's headless Chromium through playwright-core. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A one-time enrollment code for userId, from the admin API (as `fieldsync admin enroll-code` gets one). */
export async function enrollmentCode(srv: TestServer, userId: string): Promise<string> {
  const res = await fetch(`${srv.url}/fieldsync.v1.AdminService/IssueEnrollmentCode`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${srv.creds.admin_token}` }, body: JSON.stringify({ userId }),
  });
  if (res.status !== 200) throw new Error(`IssueEnrollmentCode: HTTP ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { enrollmentCode: string }).enrollmentCode;
}

/** The demo user of role. */
export function demoUser(srv: TestServer, role: string) {
  const u = srv.creds.users.find((x) => x.role === role);
  if (!u) throw new Error(`the demo has no ${role}`);
  return u;
}

/** Enrolls the page's device through the Enroll screen at origin and waits for Today. */
export async function enrollOnPage(page: Page, srv: TestServer, origin: string, userId: string): Promise<void> {
  await page.goto(origin + "/");
  await page.fill("input[name=code]", await enrollmentCode(srv, userId));
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=today]");
}

/** Waits until the service worker controls the page (the shell is cached). */
export function controlled(page: Page): Promise<void> {
  return page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
  });
}

/** Waits until the sync bar shows nothing waiting, online. */
export function settled(page: Page): Promise<unknown> {
  return page.waitForFunction(() => {
    const b = document.querySelector("[data-testid=syncbar]");
    return b?.getAttribute("data-online") === "true" && b.getAttribute("data-outbox") === "0" && b.getAttribute("data-photos") === "0";
  }, undefined, { timeout: 60_000 });
}

/**
 * What must never be on screen, as it is not in a person's words: enum
 * value names (ALERT_KIND_…, …_UNSPECIFIED), proto field names
 * (core_problem_solved), proto type names, wire timestamps and dates.
 */
export const RAW_TEXT = [
  /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g, /_UNSPECIFIED/g, /\b[a-z]+(?:_[a-z]+)+\b/g, /fieldsync\.v1\./g,
  /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[^\s]*/g, /\b\d{4}-\d{2}-\d{2}\b/g,
];

/** The raw text (RAW_TEXT) the page shows, empty when every word on it is a person's. */
export async function rawText(page: Page): Promise<string[]> {
  const text = await page.evaluate(() => document.body.innerText);
  return RAW_TEXT.flatMap((re) => text.match(re) ?? []);
}

/** Whether the page shows Chinese text. */
export async function showsChinese(page: Page, selector = "body"): Promise<boolean> {
  return /[\u4e00-\u9fff]/.test((await page.textContent(selector)) ?? "");
}
