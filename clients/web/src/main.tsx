/**
 * The entry: no SDK here. An enrolled device opening on Today sees it at
 * once, drawn from the saved Today index (snapshot.tsx), while the app and
 * the SDK load (boot.tsx); the app then draws the live screens over it.
 */
import { render } from "preact";
import { currentLang } from "./i18n";
import { Snapshot, snapshotInputs } from "./snapshot";
import "./style.css";

document.documentElement.lang = currentLang();
const root = document.getElementById("app")!;
const saved = snapshotInputs();
if (saved) render(<Snapshot inputs={saved} />, root);
await (await import("./boot")).boot(root);
