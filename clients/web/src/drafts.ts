/**
 * Drafts: what a form holds, saved on every keystroke in localStorage under
 * the record id the form writes, so a reload (or a killed app) loses nothing.
 * Photos are not in the draft: they are attached to the record in the
 * device store the moment they are taken.
 */
const PREFIX = "fieldsync.draft.";

/** A saved form: its type, its fields, when it was saved (Unix ms). */
export interface Draft {
  type: string;
  v: Record<string, unknown>;
  saved: number;
}

export function loadDraft(id: string): Draft | null {
  try {
    return JSON.parse(localStorage.getItem(PREFIX + id) ?? "null") as Draft | null;
  } catch {
    return null;
  }
}

export function saveDraft(id: string, d: Draft): void {
  localStorage.setItem(PREFIX + id, JSON.stringify(d));
}

export function dropDraft(id: string): void {
  localStorage.removeItem(PREFIX + id);
}

/** Every saved draft, newest first. */
export function listDrafts(): { id: string; draft: Draft }[] {
  const out: { id: string; draft: Draft }[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i)!;
    if (!k.startsWith(PREFIX)) continue;
    const d = loadDraft(k.slice(PREFIX.length));
    if (d) out.push({ id: k.slice(PREFIX.length), draft: d });
  }
  return out.sort((a, b) => b.draft.saved - a.draft.saved);
}
