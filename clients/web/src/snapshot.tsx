/**
 * Today as the device last knew it, drawn before the SDK has loaded: from
 * the saved Today index (kept up to date with every write, see
 * todayindex.ts), for an enrolled device opening on Today. The live Today
 * replaces it as soon as the app is up.
 */
import { t } from "./i18n";
import { TodayLists } from "./screens/todaylists";
import { computeToday, savedTodayInputs, type TodayInputs } from "./todaycore";

/** session.ts's profile key: set once the device is enrolled and the server said who uses it, removed on sign-out. */
const PROFILE = "fieldsync.profile";

function profileName(): string | null {
  try {
    return (JSON.parse(localStorage.getItem(PROFILE) ?? "null") as { userName?: string } | null)?.userName ?? null;
  } catch {
    return null;
  }
}

/** The saved Today inputs when the page opens on Today on an enrolled device; else null (no snapshot). */
export function snapshotInputs(): TodayInputs | null {
  if (!/^(#\/?(today)?)?$/.test(location.hash) || profileName() === null) return null;
  return savedTodayInputs();
}

/** The snapshot: the header and Today's lists, nothing that needs the device store. */
export function Snapshot({ inputs }: { inputs: TodayInputs }) {
  const name = profileName();
  return (
    <div class="app">
      <header><strong>{t("appName")}{name && <span class="who"> · {name}</span>}</strong></header>
      <main>
        <section data-testid="today-snapshot">
          <h1>{t("todayTitle")}</h1>
          <TodayLists today={computeToday(inputs, new Date())} names={inputs.customerNames} />
        </section>
      </main>
    </div>
  );
}
