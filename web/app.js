// sshdiag page, the entry module: the two modes (run a diagnosis, open a bundle), a run from
// the form with its live progress and Cancel, the support link and /relay.json pre-fills, and
// the start. The jobs live in `js/`: `form.js` (the form → options), `jump.js` (the jump
// hosts and the names of a chain's hops), `link.js` (support links),
// `events.js` (the events table), `render.js` and `server.js` (the result panels),
// `viewer.js` (bundles and event logs), `downloads.js` (files and the copied summary).
//
// It uses only the `Diagnostics` JS API of the wasm module (page.md, "Embed") and makes no
// network request except to its own origin (the module, /relay.json) and the relay's
// WebSocket. It derives no fact from events itself: the verdict, server facts, algorithms,
// timings, audit and the phase in progress are what the bundle derives (`derived()`, and the
// `derived` of `openBundle`/`openEventLog`); events are only listed.

import init, { Diagnostics } from "./pkg/sshdiag_web.js";
import { $, el, messageOf } from "./js/dom.js";
import { addEvent } from "./js/events.js";
import { formOptions, formReady, showAuthFields, showFormError } from "./js/form.js";
import { fillFromLink, readLink } from "./js/link.js";
import { addHop, clearHops } from "./js/jump.js";
import { renderAll, renderProgress, renderRunning, renderServer, resetResults } from "./js/render.js";
import { prepareViewer, showViewed, viewerReady } from "./js/viewer.js";
import { downloadsFor, showDownloads } from "./js/downloads.js";

let ready = false;
let mode = "run";
/** The last run: { d, target, startedAt, limitMs, view, verdict (once done), transcript }. */
let run = null;
let ticker = null;

downloadsFor(() => (run && run.verdict ? run.d : null));

// ---------------------------------------------------------------------------------------------
// Modes: each keeps its results; switching shows the other's again.

function showIntro() {
  $("results").hidden = true;
  $("intro").hidden = false;
}

function setMode(next) {
  mode = next;
  const isRun = next === "run";
  $("mode-run").setAttribute("aria-pressed", String(isRun));
  $("mode-view").setAttribute("aria-pressed", String(!isRun));
  $("run-panel").hidden = !isRun;
  $("view-panel").hidden = isRun;
  if (isRun) showRun();
  else {
    prepareViewer();
    if (!showViewed()) showIntro();
  }
}

$("mode-run").addEventListener("click", () => { if (mode !== "run") setMode("run"); $("f-host").focus(); });
$("mode-view").addEventListener("click", () => { if (mode !== "view") setMode("view"); $("f-bundle").focus(); });

// ---------------------------------------------------------------------------------------------
// A run

/** Renders the last run, in progress or finished, from its Diagnostics. */
function showRun() {
  if (!run) { showIntro(); return; }
  resetResults("run");
  for (const line of run.d.eventsJsonl().split("\n")) {
    if (line) addEvent(JSON.parse(line), line, run.jumps);
  }
  if (run.verdict) showFinished();
  else {
    const { d } = run;
    renderRunning(() => d.cancel());
    renderServer(run.view || run.d.derived());
    tick();
  }
}

function showFinished() {
  const { d, target } = run;
  const view = d.derived();
  // Through jump hosts, the key to trust anew is that of the server whose key changed.
  const server = view.failed_hop ? { host: view.failed_hop.host, port: view.failed_hop.port } : target;
  const trust = {
    ...server,
    forget: () => {
      Diagnostics.forgetHostKey(server.host, server.port);
      $("f-policy").value = "accept-new";
    },
  };
  // run() resolves with the verdict the derivation reads; only misuse rejects, and then the
  // page's stand-in verdict is shown.
  renderAll(view.finished ? view.verdict : run.verdict, view, run.transcript, { trust, jumps: run.jumps });
  showDownloads();
}

function tick() {
  if (run && !run.verdict && mode === "run") {
    renderProgress(run.view, Date.now() - run.startedAt, run.limitMs);
  }
}

$("run-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (ready && !(run && !run.verdict)) startRun();
});

async function startRun() {
  showFormError("");
  const opts = formOptions();
  if (!opts.host) { showFormError("Enter the host to connect to."); $("f-host").focus(); return; }
  if (!opts.username) { showFormError("Enter the user name to log in as."); $("f-user").focus(); return; }
  const blank = (opts.jump || []).findIndex((hop) => !hop.host);
  if (blank >= 0) {
    showFormError(`Enter the host of jump host ${blank + 1}, or remove it.`);
    $(`f-jump-host-${blank + 1}`).focus();
    return;
  }
  let d;
  try {
    d = new Diagnostics(opts);
  } catch (e) {
    showFormError(messageOf(e));
    return;
  }
  const mine = { d, target: { host: opts.host, port: opts.port || 22 }, startedAt: Date.now(), limitMs: d.timeLimitMs, view: null, verdict: null, transcript: [], jumps: (opts.jump || []).length };
  run = mine;
  showRun();
  const button = $("run-button");
  button.disabled = true;
  button.textContent = "Running…";
  d.onEvent((event) => {
    mine.view = d.derived();
    if (run !== mine || mode !== "run") return;
    addEvent(event, JSON.stringify(event), mine.jumps);
    renderServer(mine.view);
    tick();
  });
  ticker = ticker || setInterval(tick, 200);
  let verdict;
  try {
    verdict = await d.run();
  } catch (e) {
    verdict = { ok: false, layer: "client", error_type: "Internal", code: "internal", summary: messageOf(e), hints: [] };
  }
  clearInterval(ticker);
  ticker = null;
  button.disabled = false;
  button.textContent = "Run";
  try {
    mine.transcript = JSON.parse(d.bundle({ redact: false })).transcript || [];
  } catch (_) { /* no transcript to show */ }
  mine.verdict = verdict;
  if (run !== mine || mode !== "run") return;
  showFinished();
  $("verdict").focus();
}

// ---------------------------------------------------------------------------------------------
// Start: load the module; pre-fill from a support link, else from /relay.json's demo

function showLinkNote(text) {
  const note = $("link-note");
  note.textContent = text;
  note.hidden = !text;
}

function applyLink() {
  const link = readLink();
  if (link) showLinkNote(fillFromLink(link, $, { addHop, clearHops }));
  return link;
}

async function prefill(fromLink) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  if (location.protocol === "http:" || location.protocol === "https:") {
    $("f-proxy").placeholder = `${scheme}//${location.host}/ws`;
  }
  let info;
  try {
    const res = await fetch("/relay.json", { cache: "no-store", credentials: "same-origin" });
    if (!res.ok) return;
    info = await res.json();
  } catch (_) {
    return; // not served by a relay, or an old one: the form stays as it is
  }
  if (info && info.token_required && !$("f-token").value) {
    $("advanced").open = true;
    $("f-token").setAttribute("aria-describedby", "token-note");
    $("f-token").after(el("p", { id: "token-note", class: "note", text: "This relay wants a token: paste the one you were given." }));
  }
  const demo = info && info.demo;
  // A support link names its own target: the demo's pre-fill would only get in its way.
  if (fromLink || !demo || typeof demo !== "object") return;
  if (!$("f-host").value) $("f-host").value = demo.host ?? "";
  if (demo.port) $("f-port").value = demo.port;
  if (!$("f-user").value) $("f-user").value = demo.username ?? "";
  if (typeof demo.password === "string" && !$("f-password").value) $("f-password").value = demo.password;
  if (Array.isArray(demo.commands) && demo.commands.length) $("f-commands").value = demo.commands.join("\n");
  $("load-status").textContent = "This relay runs a demo SSH server: the form is filled in for it. Press Run.";
}

async function start() {
  showAuthFields();
  const link = applyLink();
  window.addEventListener("hashchange", applyLink);
  const filled = prefill(Boolean(link && link.host));
  try {
    await init();
    ready = true;
    viewerReady(Diagnostics);
    formReady(Diagnostics);
    $("run-button").disabled = false;
    await filled;
    if ($("load-status").textContent.startsWith("Loading")) {
      $("load-status").textContent = "Fill in the target and press Run.";
    }
  } catch (e) {
    $("load-status").textContent = `The SSH client could not load: ${messageOf(e)}. Build it with \`cargo xtask build-web\`.`;
    $("load-status").classList.add("form-error");
  }
  document.body.dataset.ready = String(ready);
}

start();
