import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { session } from "../session";

/**
 * The diagnosis photos a quote cites, as checkable thumbnails: each photo
 * drawn from the bytes the device store still holds (a photo taken here
 * and not yet uploaded: the store drops them once the server has them),
 * else named by the start of its SHA-256.
 */
export function CitedPhotos({ photos, cited, bad, onChange }: { photos: string[]; cited: string[]; bad: boolean; onChange: (cited: string[]) => void }) {
  const urls = useLocalPhotoUrls(photos);
  const on = new Set(cited);
  return (
    <fieldset class={bad ? "bad chips" : "chips"} data-field="cited"><legend>{t("citePhotos")}</legend>
      {photos.map((sha) => (
        <label key={sha} class="chip thumb">
          <input type="checkbox" value={sha} checked={on.has(sha)} onChange={(e) => onChange(e.currentTarget.checked ? [...on, sha] : [...on].filter((x) => x !== sha))} />
          {urls.get(sha) ? <img src={urls.get(sha)} alt={sha.slice(0, 12)} data-sha={sha} /> : <span>{sha.slice(0, 12)}…</span>}
        </label>
      ))}
    </fieldset>
  );
}

/** Object URLs of the photos whose bytes the device store holds (revoked when the photos change or the form closes). */
function useLocalPhotoUrls(photos: string[]): Map<string, string> {
  const [urls, setUrls] = useState(new Map<string, string>());
  const key = photos.join(",");
  useEffect(() => {
    let live = true;
    const made = new Map<string, string>();
    void session()!.storage.read(async (tx) => {
      const blobs: [string, Blob | undefined][] = [];
      for (const sha of photos) blobs.push([sha, await tx.photoBlob(sha)]);
      return blobs;
    }).then((blobs) => {
      for (const [sha, b] of blobs) if (b) made.set(sha, URL.createObjectURL(b));
      if (live) setUrls(made);
    }, (err) => console.warn("thumbnails:", err));
    return () => {
      live = false;
      for (const u of made.values()) URL.revokeObjectURL(u);
    };
  }, [key]);
  return urls;
}
