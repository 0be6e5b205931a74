// The bundle viewer: a bundle (`.json`) or an event log (`.jsonl`) chosen or dropped is read
// by the JS API (`openBundle`/`openEventLog`, which check integrity and derive the view) and
// rendered by the same panels as a run. No connection is made. The last file opened is kept,
// so it is shown again when the person comes back from the run mode.
//
// Reading files is the viewer's own wasm module, which a run never needs: the JS API fetches it
// when the person first turns to "Open a bundle" (`loadViewer`) or opens a file, never before.

import { $, el, factList, messageOf, plain } from "./dom.js";
import { addEvent } from "./events.js";
import { renderAll, resetResults } from "./render.js";

let Diagnostics = null; // the JS API class, once the module is loaded
let viewed = null;      // { log } or { opened }, with { name }: the file shown
let opening = 0;        // the number of the last file chosen: an older one still loading is dropped
let wanted = false;     // the viewer mode was chosen before the module had loaded

/** Called once the wasm module is loaded. */
export function viewerReady(api) {
  Diagnostics = api;
  if (wanted) prepareViewer();
}

/** The person turned to opening a file: fetch the viewer's module now, not when they choose it.
 * A failure is not shown here; opening a file tries again and says why it could not. */
export function prepareViewer() {
  wanted = true;
  if (Diagnostics) Diagnostics.loadViewer().catch(() => {});
}

function showBundleError(message) {
  const p = $("bundle-error");
  p.textContent = message;
  p.hidden = !message;
}

function showNothing(message) {
  viewed = null;
  // A file that failed while the person was back in the run mode leaves its results alone.
  if (!$("view-panel").hidden) {
    $("results").hidden = true;
    $("intro").hidden = false;
  }
  showBundleError(message);
}

async function openFile(file) {
  showBundleError("");
  if (!Diagnostics) { showBundleError("The viewer is still loading; try again in a moment."); return; }
  const mine = ++opening;
  $("bundle-file").textContent = `${file.name} (${file.size} bytes)`;
  const maxBytes = Diagnostics.maxFileBytes();
  if (file.size > maxBytes) {
    showNothing(`${file.name}: this file is ${file.size} bytes, over the ${maxBytes / (1024 * 1024)} MiB limit for an evidence bundle.`);
    return;
  }
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let shown;
    try {
      shown = { opened: await Diagnostics.openBundle(bytes), name: file.name };
    } catch (e) {
      // An events.jsonl is not a bundle, but the viewer can show it too.
      if (!(e && e.kind === "looks-like-jsonl")) throw e;
      shown = { log: await Diagnostics.openEventLog(bytes), name: file.name };
    }
    if (mine !== opening) return;
    viewed = shown;
  } catch (e) {
    if (mine === opening) showNothing(`${file.name}: ${messageOf(e)}`);
    return;
  }
  // Back in the run mode while it loaded: it is shown when the person returns.
  if ($("view-panel").hidden) return;
  showViewed();
  $("verdict").focus();
}

/** Renders the file last opened, if any; returns whether there was one. */
export function showViewed() {
  if (!viewed) return false;
  if (viewed.log) showEventLog(viewed.log, viewed.name);
  else showBundle(viewed.opened, viewed.name);
  return true;
}

function showEventLog(log, name) {
  resetResults("bundle");
  for (const e of log.events) addEvent(e, JSON.stringify(e));
  const view = log.derived;
  const verdict = view.finished ? view.verdict : {
    ok: false, layer: null, code: "", hints: [],
    summary: "This event log has no VERDICT event: the session it records did not finish (or the log was cut).",
  };
  renderAll(verdict, view, []);
  $("integrity-title").textContent = "Event log";
  const parts = [el("p", { class: "integrity warn", text: "An event log (JSON Lines), not a bundle: it carries no integrity digest, so edits cannot be detected." })];
  const [facts, fact] = factList();
  fact("File", name);
  fact("Events", String(log.events.length));
  parts.push(facts);
  if (log.errors.length) {
    parts.push(el("p", { class: "integrity bad", text: `${log.errors.length} line${log.errors.length === 1 ? "" : "s"} could not be read; the rest is shown:` }),
      el("ul", {}, ...log.errors.slice(0, 20).map((err) => el("li", { class: "mono small", text: `line ${err.line}: ${err.message}` }))));
  }
  $("integrity-body").replaceChildren(...parts);
}

/** "Jump host 1" or "Target (after 1 jump host)": the label of a server of a bundle's chain. */
function chainName(hop, jumps) {
  return hop.target ? `Target (after ${jumps} jump host${jumps === 1 ? "" : "s"})` : `Jump host ${hop.index + 1}`;
}

/** A server of the chain in one line: who and where, then what it said of itself. */
function chainFacts(hop) {
  const facts = [`${hop.username}@${hop.host}:${hop.port}`];
  if (!hop.reached) facts.push("not reached");
  const server = hop.server || {};
  if (server.software) facts.push(server.software);
  if (server.host_key) facts.push(`${server.host_key.algorithm} ${server.host_key.fingerprint_sha256}`);
  if (hop.auth_method) facts.push(`logged in by ${plain(hop.auth_method)}`);
  return facts.join(" · ");
}

const INTEGRITY = {
  valid: ["ok", "✔ Intact: the bundle is exactly as sshdiag wrote it."],
  mismatch: ["bad", "✘ Edited: the bundle was changed after sshdiag wrote it, so its contents cannot be relied on."],
  missing: ["warn", "? Unchecked: the bundle has no integrity digest, so edits cannot be detected."],
};

function showBundle(opened, name) {
  const b = opened.bundle;
  $("integrity-title").textContent = "Bundle";
  resetResults("bundle");
  // A bundle that records its chain (format 1.1) names its servers as a run does.
  const view = opened.derived;
  const jumps = typeof view.jump_hosts === "number" ? view.jump_hosts : undefined;
  for (const e of b.events || []) addEvent(e, JSON.stringify(e), jumps);
  renderAll(view.verdict, view, b.transcript, { edited: opened.integrity === "mismatch", jumps });
  const [facts, fact] = factList();
  const status = INTEGRITY[opened.integrity] || ["warn", String(opened.integrity)];
  if (opened.integrityDetail) {
    fact("Expected SHA-256", opened.integrityDetail.expected, "mono small");
    fact("Actual SHA-256", opened.integrityDetail.actual, "mono small");
  }
  fact("File", name);
  fact("Created", b.created_ms ? new Date(b.created_ms).toISOString() : undefined);
  fact("Tool", b.tool ? `${b.tool.name} ${b.tool.version} (${b.tool.runtime})` : undefined);
  const hi = b.host_info || {};
  fact("Target", hi.host ? `${hi.username ?? "?"}@${hi.host}:${hi.port ?? "?"}` : undefined, "mono");
  for (const hop of view.chain || []) fact(chainName(hop, jumps), chainFacts(hop), "mono");
  fact("Relay", hi.proxy, "mono");
  fact("Redacted", b.redaction && b.redaction.applied ? "yes" : "no");
  fact("Connection id", b.connection_id, "mono");
  $("integrity-body").replaceChildren(el("p", { class: `integrity ${status[0]}`, text: status[1] }), facts);
}

$("f-bundle").addEventListener("change", (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (file) openFile(file);
  ev.target.value = "";
});

const zone = $("drop-zone");
zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (ev) => {
  ev.preventDefault();
  zone.classList.remove("over");
  const file = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
  if (file) openFile(file);
});
// A file dropped anywhere else must not make the browser navigate away from the page.
window.addEventListener("dragover", (ev) => ev.preventDefault());
window.addEventListener("drop", (ev) => {
  ev.preventDefault();
  const file = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
  if (file && !$("view-panel").hidden) openFile(file);
});
