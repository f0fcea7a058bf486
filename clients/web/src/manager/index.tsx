/**
 * The managers' screens (PHI, alerts inbox, A3, fleet, admin): loaded as
 * their own chunk from #/manager, so the field screens never ship them.
 * A later version fills this in; its charts load here too.
 */
import { t } from "../i18n";

export function ManagerHome() {
  return (
    <section>
      <h1>{t("managerTitle")}</h1>
      <p>{t("managerSoon")}</p>
    </section>
  );
}
