// The result panels: the verdict (and the live progress before it), the timeline, the server
// facts, the host-key mismatch and the commands' transcript. Everything comes from the
// `SessionView` the JS API derives (`derived()`, or the `derived` of `openBundle`/
// `openEventLog`); nothing here reads an event.

import { $, el, factList, fmtBytes, fmtMs, hopName, plain, PHASES, PHASE_NAMES } from "./dom.js";
import { clearEvents } from "./events.js";
import { renderServer } from "./server.js";

/** The plain-text summary of the verdict shown now, for the "Copy summary" button. */
let summaryText = "";
export const currentSummary = () => summaryText;

/** Empties every result panel and shows them for `mode` ("run" or "bundle"). */
export function resetResults(mode) {
  $("results").hidden = false;
  $("intro").hidden = true;
  clearEvents();
  $("timeline").replaceChildren(el("p", { class: "note", text: "The timeline is drawn when the run ends." }));
  $("server").replaceChildren();
  $("mismatch").hidden = true;
  $("integrity").hidden = mode !== "bundle";
  $("downloads").hidden = true;
  $("verdict-actions").hidden = true;
  $("transcript-panel").hidden = true;
  summaryText = "";
}

/**
 * The verdict panel while a run is in progress: the phase it is in, the time since it started
 * against the run's time limit, and a Cancel button calling `onCancel`.
 */
export function renderRunning(onCancel) {
  $("verdict").className = "verdict running";
  const cancel = el("button", { type: "button", id: "cancel-button", text: "Cancel" });
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    cancel.textContent = "Cancelling…";
    onCancel();
  });
  $("verdict-body").replaceChildren(
    el("p", { class: "summary" }, "Running… ", el("span", { id: "progress-phase" }, "starting")),
    el("p", { class: "progress-line", "aria-live": "off" },
      el("progress", { id: "progress-bar", max: "100", value: "0", "aria-label": "Time used of the run's limit" }),
      " ", el("span", { id: "progress-time", class: "mono" })),
    el("p", { class: "note", text: "Events appear below as they happen." }),
    cancel);
}

/** Updates the live progress: the phase in progress (`view.phase_in_progress`), the time. */
export function renderProgress(view, elapsedMs, limitMs) {
  const phase = $("progress-phase");
  if (!phase) return;
  const p = view && view.phase_in_progress;
  phase.textContent = p ? `phase: ${PHASE_NAMES[p] || plain(p)}` : "starting";
  const limit = limitMs ? ` of ${(limitMs / 1000).toFixed(0)} s` : "";
  $("progress-time").textContent = `${(elapsedMs / 1000).toFixed(1)} s${limit}`;
  if (limitMs) $("progress-bar").value = String(Math.min(100, (elapsedMs / limitMs) * 100));
}

/**
 * Renders the verdict `v` (the derived one, or the page's stand-in) with the view's facts.
 * `edited` (a bundle whose integrity check failed) never shows green: the file's claim is
 * shown as a claim.
 */
function renderVerdict(v, view, edited, jumps) {
  const box = $("verdict");
  const state = edited ? "edited" : v.ok ? "ok" : "fail";
  box.className = `verdict ${state}`;
  const error = view.error_context;
  // The plain sentence comes from the core (`view.headline`); the type and code go beside it.
  const words = view.headline || (v.ok ? "It works" : v.error_type || "Failed");
  const headline = edited
    ? ` Not trustworthy: this bundle was edited. It claims ${v.ok ? "“it works”" : `“${words}”`}.`
    : ` ${words}.`;
  const typeCode = [v.ok ? "" : v.error_type, v.code].filter(Boolean).join(" · ");
  const body = [
    el("p", { class: "headline" },
      el("span", { class: "mark", "aria-hidden": "true", text: edited ? "⚠" : v.ok ? "✔" : "✘" }),
      el("strong", { id: "verdict-headline", text: headline }),
      typeCode && !v.ok ? el("span", { class: "type-code mono", text: ` ${typeCode}` }) : null),
    el("p", { class: "summary", text: v.summary || "" }),
  ];
  const [facts, fact] = factList();
  if (!v.ok && view.failed_hop) fact("Failed at", hopName(view.failed_hop, jumps));
  fact(v.ok ? "Layer reached" : "Failed at layer", v.layer);
  if (v.ok && Array.isArray(view.hops) && view.hops.length) fact("Path", view.hops.map((h) => hopName(h, jumps)).join(" → "));
  if (!v.ok) fact("Error type", v.error_type);
  fact("Code", v.code);
  if (error && error.message && error.message !== v.summary) fact("Detail", error.message);
  fact("Connection id", view.connection_id);
  body.push(facts);
  const hints = Array.isArray(v.hints) ? v.hints : [];
  if (hints.length) {
    body.push(el("h3", { text: "What to do" }));
    body.push(el("ul", { class: "hints" }, ...hints.map((h) => el("li", { text: h }))));
  }
  $("verdict-body").replaceChildren(...body);
  summaryText = [
    `sshdiag verdict: ${edited ? "EDITED BUNDLE, claims " : ""}${v.ok ? "OK" : `FAILED (${v.error_type || "?"}): ${words}`}`,
    v.summary || "",
    !v.ok && view.failed_hop ? `Failed at: ${hopName(view.failed_hop, jumps)}` : "",
    v.layer ? `Layer: ${v.layer}` : "",
    v.code ? `Code: ${v.code}` : "",
    view.connection_id ? `Connection id: ${view.connection_id}` : "",
    ...hints.map((h) => `- ${h}`),
  ].filter((line) => line !== "").join("\n");
  $("verdict-actions").hidden = false;
}

/**
 * Through jump hosts, the chain under the bars: each server reached, in order, with the one
 * the run failed at marked (the bars add up the phases of every server).
 */
function hopsList(v, view, jumps) {
  const hops = Array.isArray(view.hops) ? view.hops : [];
  if (!hops.length) return null;
  const failed = v.ok ? null : view.failed_hop;
  const items = hops.map((h) => {
    const state = failed && h.index === failed.index ? "failed here" : failed && h.index > failed.index ? "not reached" : "passed";
    return el("li", { class: state === "failed here" ? "failed" : undefined, "data-hop": h.index, text: `${hopName(h, jumps)}: ${state}` });
  });
  return el("div", { class: "hops" }, el("h3", { text: "Through jump hosts" }),
    el("p", { class: "note", text: "Each bar above adds up that phase on every server of the path." }),
    el("ol", {}, ...items));
}

function renderTimeline(v, view, jumps) {
  const phases = (view.timing && view.timing.phases) || {};
  const failed = v.ok ? null : view.failed_phase;
  const durations = PHASES.map((p) => (typeof phases[p] === "number" ? Math.max(0, phases[p]) : null));
  const total = durations.reduce((a, b) => a + (b || 0), 0);
  const scale = total > 0 ? total : 1;
  const wrap = el("div", { class: "bars", role: "list" });
  let offset = 0;
  PHASES.forEach((p, i) => {
    const ms = durations[i];
    const isFailed = p === failed;
    const reached = ms !== null || isFailed;
    const row = el("div", { class: `bar-row${isFailed ? " failed" : ""}${reached ? "" : " unreached"}`, role: "listitem", "data-phase": p });
    const track = el("span", { class: "bar-track", "aria-hidden": "true" });
    const bar = el("span", { class: "bar" });
    let text;
    if (ms !== null) {
      bar.style.left = `${(offset / scale) * 100}%`;
      bar.style.width = `${(ms / scale) * 100}%`;
      bar.dataset.ms = String(ms);
      offset += ms;
      text = fmtMs(ms);
    } else if (isFailed) {
      bar.style.left = `${(offset / scale) * 100}%`;
      bar.style.width = "0.8%";
      text = "failed";
    } else {
      bar.hidden = true;
      text = "not reached";
    }
    if (isFailed) text = `${text === "failed" ? "" : `${text} — `}failed here`;
    if (ms === null && !isFailed && p === "dns" && phases.relay !== undefined && phases.tcp !== undefined) text = "done by the relay";
    track.append(bar);
    row.append(el("span", { class: "bar-label", text: PHASE_NAMES[p] }), el("span", { class: "bar-ms", text }), track);
    wrap.append(row);
  });
  const caption = el("p", { class: "note", text: `Total ${fmtMs(total)}, bars to scale.${failed ? ` Failed in ${PHASE_NAMES[failed]}.` : ""}` });
  $("timeline").replaceChildren(wrap, caption, hopsList(v, view, jumps) || "");
}

function renderMismatch(v, view, trust) {
  const box = $("mismatch");
  const mismatch = view.host_key_mismatch;
  if (v.error_type !== "HostKeyMismatch" || !mismatch) { box.hidden = true; return; }
  const presented = mismatch.presented || "?";
  const [facts, fact] = factList();
  fact("Trusted key", mismatch.expected || "?", "mono");
  fact("Presented key", `${mismatch.algorithm ? `${mismatch.algorithm} ` : ""}${presented}`, "mono");
  const otherType = v.code === "host-key-type-changed";
  const body = [
    el("p", { text: otherType
      ? "The server presented a host key of another type than the one this browser trusted for it. Most likely it now prefers (or only has) that type, which is not a changed key; the host key inventory (option hostKeyInventory) shows whether it still has the trusted key. Check the new fingerprint with the server's administrator before trusting it."
      : "The server presented a different host key from the one this browser trusted for it. This happens when the server was reinstalled or its keys were changed — or when someone is intercepting the connection. Check the new fingerprint with the server's administrator before trusting it." }),
    facts,
  ];
  if (trust) {
    const status = el("p", { class: "note", role: "status" });
    const button = el("button", { type: "button", class: "danger-button", text: `Trust the new key for ${trust.host}:${trust.port}` });
    button.addEventListener("click", () => {
      trust.forget();
      button.disabled = true;
      status.textContent = `The old key is forgotten. Run again: the key the server presents then (expected ${presented}) will be trusted.`;
      $("run-button").focus();
    });
    body.push(button, status);
  }
  $("mismatch-body").replaceChildren(...body);
  box.hidden = false;
}

/** One stream of a command: its text, "output removed (87 B)" when redaction took it out. */
function stream(name, text, length, cls) {
  if (typeof text === "string") return text ? el("pre", { class: cls, tabindex: "0", text }) : null;
  if (!length) return el("p", { class: "note", text: `${name}: empty` });
  return el("p", { class: "note removed", text: `${name}: output removed (${fmtBytes(length)})` });
}

function renderTranscript(transcript) {
  const panel = $("transcript-panel");
  if (!Array.isArray(transcript) || !transcript.length) { panel.hidden = true; return; }
  const items = transcript.map((t) => {
    const status = t.exit_code !== undefined && t.exit_code !== null ? `exit ${t.exit_code}` : t.exit_signal ? `signal ${t.exit_signal}` : "no exit status";
    const parts = [el("h3", { class: "mono" }, `$ ${t.command}`, el("span", { class: `exit ${t.exit_code === 0 ? "ok" : "bad"}`, text: ` ${status}` }))];
    if (t.command_redacted) parts.push(el("p", { class: "note redacted-command", text: "Redaction changed this command's text (pseudonyms or [REDACTED]): it is not exactly what was typed." }));
    parts.push(stream("stdout", t.stdout, t.stdout_len, undefined), stream("stderr", t.stderr, t.stderr_len, "stderr"));
    if (t.stdout === "" && t.stderr === "") parts.push(el("p", { class: "note", text: "No output." }));
    if (t.truncated) parts.push(el("p", { class: "note", text: "Output was cut at the bundle's cap." }));
    return el("div", { class: "cmd" }, ...parts);
  });
  $("transcript").replaceChildren(...items);
  panel.hidden = false;
}

/**
 * Renders a finished session: `verdict` to show, `view` what the bundle derives, `transcript`
 * the commands, and `how`: `{ edited }` for a bundle whose integrity failed, `{ trust }` (host,
 * port, forget()) for a run whose host key may be trusted anew, `{ jumps }` the number of jump
 * hosts of a run (the names of its hops).
 */
export function renderAll(verdict, view, transcript, how = {}) {
  renderVerdict(verdict, view, Boolean(how.edited), how.jumps);
  renderMismatch(verdict, view, how.trust);
  renderTimeline(verdict, view, how.jumps);
  renderServer(view);
  if (view.server_hop) {
    $("server").prepend(el("p", { class: "note", text: `These are the facts of ${hopName(view.server_hop, how.jumps)}, the last server reached.` }));
  }
  renderTranscript(transcript);
}

export { renderServer };
