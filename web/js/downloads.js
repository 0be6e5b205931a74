// Downloads of a finished run (events.jsonl, the redacted bundle with its preview, the raw
// bundle behind a confirmation) and the "Copy summary" button under the verdict. Files are
// made in the page (Blob URLs); nothing is uploaded.

import { $, el, messageOf } from "./dom.js";
import { currentSummary } from "./render.js";

let current = () => null; // the finished Diagnostics whose files the buttons save
let previewed = null;

/** Points the buttons at a finished run (`getRun()` returns its Diagnostics, or null). */
export function downloadsFor(getRun) {
  current = getRun;
}

/** Shows the downloads of a finished run, the preview closed. */
export function showDownloads() {
  $("downloads").hidden = false;
  $("redacted-preview-box").open = false;
  $("redacted-preview").textContent = "";
  previewed = null;
}

function save(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const cid = (d) => d.connectionId || "session";

$("dl-events").addEventListener("click", () => {
  const d = current();
  if (d) save(`sshdiag-${cid(d)}.events.jsonl`, d.eventsJsonl(), "application/x-ndjson");
});

$("redacted-preview-box").addEventListener("toggle", () => {
  const d = current();
  if (!$("redacted-preview-box").open || !d) return;
  try {
    previewed = d.bundle({ redact: true });
    $("redacted-preview").textContent = previewed;
  } catch (e) {
    $("redacted-preview").textContent = messageOf(e);
  }
});

$("dl-redacted").addEventListener("click", () => {
  const d = current();
  if (!d) return;
  // Save exactly what the preview shows when it is open, otherwise a fresh redaction.
  const text = $("redacted-preview-box").open && previewed ? previewed : d.bundle({ redact: true });
  save(`sshdiag-${cid(d)}.bundle.json`, text, "application/json");
});

function saveRaw() {
  const d = current();
  if (d) save(`sshdiag-${cid(d)}.raw-bundle.json`, d.bundle({ redact: false }), "application/json");
}

$("dl-raw").addEventListener("click", () => {
  if (!current()) return;
  const dialog = $("raw-dialog");
  if (typeof dialog.showModal === "function") {
    dialog.showModal();
    $("raw-cancel").focus();
  } else if (window.confirm("The raw bundle is not redacted: it contains host names, addresses, the user name and the commands' output (never passwords, keys or tokens). Download it?")) {
    saveRaw();
  }
});
$("raw-cancel").addEventListener("click", () => { $("raw-dialog").close(); $("dl-raw").focus(); });
$("raw-confirm").addEventListener("click", () => {
  $("raw-dialog").close();
  saveRaw();
  $("dl-raw").focus();
});

/** Copies with the Clipboard API, else with a selected text area (older or stricter browsers). */
async function copyText(text) {
  try {
    // A browser that neither allows nor refuses (a permission never answered) gets a second.
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error("no answer")), 1000));
    await Promise.race([navigator.clipboard.writeText(text), late]);
    return true;
  } catch (_) {
    const area = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

$("copy-summary").addEventListener("click", async () => {
  const text = currentSummary();
  const status = $("copy-status");
  if (!text) return;
  status.textContent = (await copyText(text))
    ? "Summary copied: paste it into the ticket."
    : "The browser did not allow copying; select the verdict's text instead.";
});
