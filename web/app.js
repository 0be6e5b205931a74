// sshdiag page: the form, live events, verdict, timeline, server facts, downloads and the bundle
// viewer. It uses only the `Diagnostics` JS API of the wasm module (page.md, "Embed") and makes
// no network request except to its own origin (the module, /relay.json) and the relay's
// WebSocket. It derives no fact from events itself: the verdict, server facts, algorithms,
// timings and audit it shows are what the bundle derives (`derived()`, and the `derived` of
// `openBundle`/`openEventLog`); events are only listed.

import init, { Diagnostics } from "./pkg/sshdiag_web.js";

const PHASES = ["relay", "dns", "tcp", "banner", "kex", "hostkey", "auth", "channel", "exec"];
const PHASE_NAMES = {
  relay: "Relay (WebSocket)", dns: "DNS", tcp: "TCP", banner: "Banner", kex: "Key exchange",
  hostkey: "Host key", auth: "Authentication", channel: "Channel", exec: "Commands",
};
const LEVELS = ["debug", "info", "warn", "error"];

const $ = (id) => document.getElementById(id);

/** Creates an element with text and attributes (never innerHTML: everything shown is data). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// State

let ready = false;
let current = null;        // the Diagnostics of the last run
let currentTarget = null;  // { host, port } of the last run
let events = [];           // event objects shown now (run or bundle)
let rawLines = [];         // their JSONL
let keyFile = null;        // { name, text } of a chosen private key file

// ---------------------------------------------------------------------------------------------
// Modes

function setMode(mode) {
  const run = mode === "run";
  $("mode-run").setAttribute("aria-pressed", String(run));
  $("mode-view").setAttribute("aria-pressed", String(!run));
  $("run-panel").hidden = !run;
  $("view-panel").hidden = run;
  $("results").hidden = true;
  $("intro").hidden = false;
}

$("mode-run").addEventListener("click", () => { setMode("run"); $("f-host").focus(); });
$("mode-view").addEventListener("click", () => { setMode("view"); $("f-bundle").focus(); });

// ---------------------------------------------------------------------------------------------
// The form

function authType() {
  const checked = document.querySelector('input[name="authType"]:checked');
  return checked ? checked.value : "password";
}

function showAuthFields() {
  const t = authType();
  for (const div of document.querySelectorAll(".auth")) div.hidden = div.dataset.auth !== t;
}
for (const r of document.querySelectorAll('input[name="authType"]')) {
  r.addEventListener("change", showAuthFields);
}

$("f-keyfile").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (!file) return;
  if (file.size > 1024 * 1024) {
    $("f-keyfile-note").textContent = `${file.name} is ${file.size} bytes: too large to be a private key.`;
    ev.target.value = "";
    return;
  }
  keyFile = { name: file.name, text: await file.text() };
  ev.target.value = "";
  $("f-key").value = "";
  $("f-key").placeholder = `Using the key file ${file.name}`;
  $("f-keyfile-note").textContent = `Using the key file ${file.name} (${file.size} bytes). It stays in this page.`;
  $("f-keyfile-clear").hidden = false;
});

function forgetKeyFile() {
  keyFile = null;
  $("f-key").placeholder = "-----BEGIN OPENSSH PRIVATE KEY-----";
  $("f-keyfile-note").textContent = "";
  $("f-keyfile-clear").hidden = true;
}
$("f-keyfile-clear").addEventListener("click", () => { forgetKeyFile(); $("f-key").focus(); });
$("f-key").addEventListener("input", () => { if (keyFile && $("f-key").value) forgetKeyFile(); });

function lines(text) {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/** The options for `new Diagnostics`, from the form. */
function formOptions() {
  const opts = {
    host: $("f-host").value.trim(),
    username: $("f-user").value.trim(),
    commands: lines($("f-commands").value),
    hostKeyPolicy: $("f-policy").value,
  };
  const port = $("f-port").value.trim();
  if (port !== "") opts.port = Number(port);
  const timeout = $("f-timeout").value.trim();
  if (timeout !== "") opts.connectTimeoutMs = Number(timeout);
  const proxy = $("f-proxy").value.trim();
  if (proxy !== "") opts.proxyUrl = proxy;
  const token = $("f-token").value;
  if (token.trim() !== "") opts.token = token.trim();
  const algorithms = {};
  for (const [id, key] of [["f-kex", "kex"], ["f-hostkey", "hostKey"], ["f-ciphers", "ciphers"], ["f-macs", "macs"]]) {
    const v = $(id).value.trim();
    if (v !== "") algorithms[key] = v;
  }
  if (Object.keys(algorithms).length > 0) opts.algorithms = algorithms;
  const forward = $("f-forward").value.trim();
  if (forward !== "") opts.forwardProbe = forward;
  switch (authType()) {
    case "password":
      opts.auth = { type: "password", password: $("f-password").value };
      break;
    case "privateKey": {
      const key = keyFile ? keyFile.text : $("f-key").value;
      opts.auth = { type: "privateKey", key };
      if ($("f-passphrase").value !== "") opts.auth.passphrase = $("f-passphrase").value;
      if (keyFile) opts.auth.label = keyFile.name;
      break;
    }
    case "keyboardInteractive":
      opts.auth = { type: "keyboardInteractive", answers: $("f-answers").value.split(/\r?\n/).filter((a, i, all) => a !== "" || i < all.length - 1) };
      break;
    default:
      opts.auth = { type: "probe" };
  }
  return opts;
}

function showFormError(message) {
  const p = $("form-error");
  p.textContent = message;
  p.hidden = !message;
}

/** A message for a thrown value, for people. */
function messageOf(e) {
  if (e && typeof e.message === "string") return e.message;
  return String(e);
}

$("run-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!ready) return;
  startRun();
});

async function startRun() {
  showFormError("");
  const opts = formOptions();
  if (!opts.host) { showFormError("Enter the host to connect to."); $("f-host").focus(); return; }
  if (!opts.username) { showFormError("Enter the user name to log in as."); $("f-user").focus(); return; }
  let d;
  try {
    d = new Diagnostics(opts);
  } catch (e) {
    showFormError(messageOf(e));
    return;
  }
  current = d;
  currentTarget = { host: opts.host, port: opts.port || 22 };
  resetResults("run");
  renderRunning();
  const button = $("run-button");
  button.disabled = true;
  button.textContent = "Running…";
  d.onEvent((event) => {
    if (current !== d) return;
    addEvent(event, JSON.stringify(event));
    renderServer(d.derived());
  });
  let verdict;
  try {
    verdict = await d.run();
  } catch (e) {
    verdict = { ok: false, layer: "client", error_type: "Internal", code: "internal", summary: messageOf(e), hints: [] };
  }
  button.disabled = false;
  button.textContent = "Run";
  if (current !== d) return;
  let transcript = [];
  try {
    transcript = JSON.parse(d.bundle({ redact: false })).transcript || [];
  } catch (_) { /* no transcript to show */ }
  const view = d.derived();
  // run() resolves with the verdict the derivation reads; only misuse rejects, and then the
  // message above stands in for it.
  renderAll(view.finished ? view.verdict : verdict, view, transcript, "run");
  $("downloads").hidden = false;
  $("redacted-preview-box").open = false;
  $("redacted-preview").textContent = "";
  $("verdict").focus();
}

// ---------------------------------------------------------------------------------------------
// Events table

function summarize(e) {
  const d = e.data || {};
  const j = (xs) => (Array.isArray(xs) ? xs.join(", ") : "");
  switch (e.event_type) {
    case "CONNECT":
      if (d.status === "initiating") return `Connecting to ${d.host}:${d.port} as ${d.username ?? "?"}${d.proxy ? ` through ${d.proxy}` : ""}`;
      return `Connected${d.transport ? ` (${d.transport})` : ""}${d.auth_method ? `, logged in with ${d.auth_method}` : ""}`;
    case "PROXY": {
      const parts = [d.status];
      if (d.ms !== undefined) parts.push(`${fmtMs(d.ms)}`);
      if (d.addrs) parts.push(`addresses ${j(d.addrs)}`);
      if (d.peer) parts.push(`peer ${d.peer}`);
      if (d.reason) parts.push(d.reason);
      if (d.bytes_up !== undefined) parts.push(`${d.bytes_up} B up, ${d.bytes_down ?? 0} B down`);
      return `Relay: ${parts.join(" · ")}`;
    }
    case "VERSION":
      return `Server says ${d.server_version}${d.duration_ms !== undefined ? ` (${fmtMs(d.duration_ms)})` : ""}`;
    case "KEX":
      if (d.status === "proposals") return "Key exchange proposals exchanged";
      if (d.status === "negotiated") return `Negotiated ${d.kex}, ${d.host_key}, ${d.cipher_cs}${d.mac_cs && d.mac_cs !== "implicit" ? `, ${d.mac_cs}` : ""}`;
      return `Key exchange failed${d.category ? ` (no common ${d.category})` : ""}`;
    case "HOSTKEY":
      return `${d.algorithm} ${d.fingerprint_sha256} — ${d.status}${d.expected_fingerprint ? `, expected ${d.expected_fingerprint}` : ""}`;
    case "AUTH": {
      let s = `${d.method ?? "?"} for ${d.username ?? "?"}: ${d.status}`;
      if (d.methods_available) s += `; server accepts ${j(d.methods_available) || "nothing"}`;
      if (d.error_message) s += ` — ${d.error_message}`;
      return s;
    }
    case "CHANNEL":
      return `${d.channel_type} channel ${d.status}${d.reason ? `: ${d.reason}` : ""}`;
    case "EXEC":
      return `${d.command} → ${d.exit_code !== undefined && d.exit_code !== null ? `exit ${d.exit_code}` : d.exit_signal ? `signal ${d.exit_signal}` : "no exit status"}, ${d.stdout_len} B out, ${d.stderr_len} B err`;
    case "ERROR":
      return `${d.error_type}: ${d.message}`;
    case "DISCONNECT":
      return `Disconnected: ${d.reason}${d.description ? ` (${d.description})` : ""}`;
    case "AUDIT":
      return `${d.grade}: ${d.category} ${d.algorithm}${d.reason ? ` — ${d.reason}` : ""}${d.fix ? ` Fix: ${d.fix}` : ""}`;
    case "VERDICT":
      return `${d.ok ? "OK" : "FAILED"}: ${d.summary}`;
    default: {
      const s = JSON.stringify(d);
      return s.length > 160 ? `${s.slice(0, 157)}…` : s;
    }
  }
}

function fmtMs(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "";
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

function fmtTime(e) {
  const first = events.length ? events[0].timestamp : e.timestamp;
  const offset = (e.timestamp - first) * 1000;
  return `+${offset.toFixed(0)} ms`;
}

function passesFilter(e) {
  const type = $("filter-type").value;
  const min = LEVELS.indexOf($("filter-level").value);
  if (type && e.event_type !== type) return false;
  const lvl = LEVELS.indexOf(e.level);
  return lvl < 0 || lvl >= min;
}

function eventRow(e) {
  const iso = new Date(e.timestamp * 1000).toISOString();
  const tr = el("tr", { class: `lvl-${e.level}`, "data-type": e.event_type },
    el("td", { class: "num" }, el("time", { datetime: iso, title: iso, text: fmtTime(e) })),
    el("td", {}, el("span", { class: `badge t-${e.event_type}`, text: e.event_type })),
    el("td", { class: "code" }, e.code),
    el("td", {}, summarize(e)));
  tr.hidden = !passesFilter(e);
  return tr;
}

function addEvent(e, line) {
  events.push(e);
  rawLines.push(line);
  $("events").tBodies[0].append(eventRow(e));
  $("raw-jsonl").textContent += `${line}\n`;
  const sel = $("filter-type");
  if (![...sel.options].some((o) => o.value === e.event_type)) {
    sel.append(el("option", { value: e.event_type, text: e.event_type }));
  }
  updateCount();
}

function updateCount() {
  const rows = [...$("events").tBodies[0].rows];
  const shown = rows.filter((r) => !r.hidden).length;
  $("event-count").textContent = shown === rows.length ? `${rows.length} events` : `${shown} of ${rows.length} events`;
}

function applyFilter() {
  const rows = $("events").tBodies[0].rows;
  events.forEach((e, i) => { if (rows[i]) rows[i].hidden = !passesFilter(e); });
  updateCount();
}
$("filter-type").addEventListener("change", applyFilter);
$("filter-level").addEventListener("change", applyFilter);

// ---------------------------------------------------------------------------------------------
// Panels

function resetResults(mode) {
  events = [];
  rawLines = [];
  $("results").hidden = false;
  $("intro").hidden = true;
  $("events").tBodies[0].replaceChildren();
  $("raw-jsonl").textContent = "";
  const sel = $("filter-type");
  sel.replaceChildren(el("option", { value: "", text: "all types" }));
  $("filter-level").value = "debug";
  $("timeline").replaceChildren(el("p", { class: "note", text: "The timeline is drawn when the run ends." }));
  $("server").replaceChildren();
  $("mismatch").hidden = true;
  $("integrity").hidden = mode !== "bundle";
  $("downloads").hidden = true;
  $("transcript-panel").hidden = true;
  updateCount();
}

function renderRunning() {
  const v = $("verdict");
  v.className = "verdict running";
  $("verdict-body").replaceChildren(el("p", { class: "summary", text: "Running… events appear below as they happen." }));
}

/** Renders the verdict `v` (the derived one, or the page's stand-in) with the view's facts. */
function renderVerdict(v, view) {
  const box = $("verdict");
  box.className = `verdict ${v.ok ? "ok" : "fail"}`;
  const error = view.error_context;
  const body = [
    el("p", { class: "headline" },
      el("span", { class: "mark", "aria-hidden": "true", text: v.ok ? "✔" : "✘" }),
      el("strong", { text: v.ok ? " It works." : ` ${v.error_type || "Failed"}` })),
    el("p", { class: "summary", text: v.summary || "" }),
  ];
  const facts = el("dl", { class: "facts" });
  const fact = (k, val) => { if (val !== undefined && val !== null && val !== "") facts.append(el("dt", { text: k }), el("dd", { text: String(val) })); };
  fact(v.ok ? "Layer reached" : "Failed at layer", v.layer);
  if (!v.ok) fact("Error type", v.error_type);
  fact("Code", v.code);
  if (error && error.message && error.message !== v.summary) fact("Detail", error.message);
  fact("Connection id", view.connection_id);
  body.push(facts);
  if (Array.isArray(v.hints) && v.hints.length) {
    body.push(el("h3", { text: "What to do" }));
    body.push(el("ul", { class: "hints" }, ...v.hints.map((h) => el("li", { text: h }))));
  }
  $("verdict-body").replaceChildren(...body);
}

function renderTimeline(v, view) {
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
    const row = el("div", { class: `bar-row${isFailed ? " failed" : ""}${reached ? "" : " unreached"}`, role: "listitem" });
    const label = el("span", { class: "bar-label", text: PHASE_NAMES[p] });
    const track = el("span", { class: "bar-track", "aria-hidden": "true" });
    const bar = el("span", { class: "bar" });
    let text;
    if (ms !== null) {
      bar.style.left = `${(offset / scale) * 100}%`;
      bar.style.width = `${Math.max((ms / scale) * 100, 0.4)}%`;
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
    if (ms === null && !isFailed && (p === "dns") && phases.relay !== undefined && phases.tcp !== undefined) text = "done by the relay";
    track.append(bar);
    row.append(label, track, el("span", { class: "bar-ms", text }));
    wrap.append(row);
  });
  const caption = el("p", { class: "note", text: `Total ${fmtMs(total)}, bars to scale.${failed ? ` Failed in ${PHASE_NAMES[failed]}.` : ""}` });
  $("timeline").replaceChildren(wrap, caption);
}

const PROPOSAL_ROWS = [
  ["kex", "Key exchange", "kex"], ["host_key", "Host key", "host_key"],
  ["cipher_cs", "Cipher client→server", "cipher_cs"], ["cipher_sc", "Cipher server→client", "cipher_sc"],
  ["mac_cs", "MAC client→server", "mac_cs"], ["mac_sc", "MAC server→client", "mac_sc"],
  ["compression_cs", "Compression client→server", "compression_cs"], ["compression_sc", "Compression server→client", "compression_sc"],
];

/** Server facts, algorithms and the audit, as the bundle derives them (`view`). */
function renderServer(view) {
  const out = [];
  const server = view.server || {};
  const algos = view.algorithms || {};
  const negotiated = PROPOSAL_ROWS.some(([key]) => algos[key] != null);
  const withProposals = algos.client_proposal || algos.server_proposal;
  const facts = el("dl", { class: "facts" });
  const fact = (k, val, cls) => { if (val !== undefined && val !== null && val !== "") facts.append(el("dt", { text: k }), el("dd", { class: cls, text: String(val) })); };
  fact("Banner", server.banner, "mono");
  fact("Software", server.software);
  if (view.pre_banner_lines.length) fact("Lines before the banner", view.pre_banner_lines.join(" ⏎ "), "mono");
  fact("Client", view.client_version, "mono");
  if (server.host_key) fact("Host key", `${server.host_key.algorithm} ${server.host_key.fingerprint_sha256}`, "mono");
  if (view.host_key_status) fact("Host key status", `${view.host_key_status}${view.host_key_policy ? ` (policy ${view.host_key_policy})` : ""}`);
  if (negotiated) {
    fact("Strict kex", algos.strict_kex == null ? undefined : algos.strict_kex ? "yes" : "no");
    if (Array.isArray(algos.server_sig_algs)) fact("server-sig-algs", algos.server_sig_algs.join(", "), "mono");
  }
  if (!facts.childElementCount && !withProposals && !negotiated) {
    $("server").replaceChildren(el("p", { class: "note", text: "Nothing heard from the server yet." }));
    return;
  }
  out.push(facts);
  if (negotiated) {
    const chosen = el("table", { class: "algos chosen" },
      el("caption", { text: "Negotiated algorithms" }),
      el("tbody", {}, ...PROPOSAL_ROWS.filter(([key]) => algos[key] != null).map(([key, name]) =>
        el("tr", {}, el("th", { scope: "row", text: name }), el("td", { class: "mono", text: algos[key] })))));
    out.push(el("div", { class: "table-wrap" }, chosen));
  }
  if (withProposals) {
    const table = el("table", { class: "algos" },
      el("caption", { text: "What each side offered, in preference order (the chosen one in bold)" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Category" }),
        el("th", { scope: "col", text: "Client offered" }), el("th", { scope: "col", text: "Server offered" }))));
    const tbody = el("tbody");
    for (const [key, name, propKey] of PROPOSAL_ROWS) {
      const pick = algos[key];
      const list = (p) => {
        const items = p && Array.isArray(p[propKey]) ? p[propKey] : [];
        const cell = el("td", { class: "mono small" });
        items.forEach((a, i) => {
          if (i) cell.append(", ");
          cell.append(a === pick ? el("strong", { text: a }) : a);
        });
        if (!items.length) cell.append("—");
        return cell;
      };
      tbody.append(el("tr", {}, el("th", { scope: "row", text: name }),
        list(algos.client_proposal), list(algos.server_proposal)));
    }
    table.append(tbody);
    out.push(el("details", { class: "proposals", open: view.kex_failed || !negotiated },
      el("summary", { text: "Both proposals (client and server offers)" }),
      el("div", { class: "table-wrap" }, table)));
  }
  const findings = [...view.audit];
  if (findings.length) {
    const order = { broken: 0, weak: 1, ok: 2, good: 3 };
    findings.sort((a, b) => (order[a.grade] ?? 9) - (order[b.grade] ?? 9));
    out.push(el("h3", { text: "Algorithm audit of the server's offer" }),
      el("ul", { class: "audit" }, ...findings.map((f) => el("li", { class: `grade-${f.grade}` },
        el("span", { class: "grade", text: f.grade }), " ",
        el("span", { class: "mono", text: `${f.category} ${f.algorithm}` }),
        f.reason ? ` — ${f.reason}` : "",
        f.fix ? el("div", { class: "mono small fix", text: f.fix }) : ""))));
  }
  $("server").replaceChildren(...out);
}

function renderMismatch(v, view, mode) {
  const box = $("mismatch");
  const mismatch = view.host_key_mismatch;
  if (v.error_type !== "HostKeyMismatch" || !mismatch) { box.hidden = true; return; }
  const expected = mismatch.expected || "?";
  const presented = mismatch.presented || "?";
  const body = [
    el("p", { text: "The server presented a different host key from the one this browser trusted for it. This happens when the server was reinstalled or its keys were changed — or when someone is intercepting the connection. Check the new fingerprint with the server's administrator before trusting it." }),
    el("dl", { class: "facts" },
      el("dt", { text: "Trusted key" }), el("dd", { class: "mono", text: expected }),
      el("dt", { text: "Presented key" }), el("dd", { class: "mono", text: `${mismatch.algorithm ? `${mismatch.algorithm} ` : ""}${presented}` })),
  ];
  if (mode === "run" && currentTarget) {
    const status = el("p", { class: "note", role: "status" });
    const button = el("button", { type: "button", class: "danger-button", text: `Trust the new key for ${currentTarget.host}:${currentTarget.port}` });
    button.addEventListener("click", () => {
      Diagnostics.forgetHostKey(currentTarget.host, currentTarget.port);
      button.disabled = true;
      $("f-policy").value = "accept-new";
      status.textContent = `The old key is forgotten. Run again: the key the server presents then (expected ${presented}) will be trusted.`;
      $("run-button").focus();
    });
    body.push(button, status);
  }
  $("mismatch-body").replaceChildren(...body);
  box.hidden = false;
}

function renderTranscript(transcript) {
  const panel = $("transcript-panel");
  if (!Array.isArray(transcript) || !transcript.length) { panel.hidden = true; return; }
  const items = transcript.map((t) => {
    const status = t.exit_code !== undefined && t.exit_code !== null ? `exit ${t.exit_code}` : t.exit_signal ? `signal ${t.exit_signal}` : "no exit status";
    const parts = [el("h3", { class: "mono" }, `$ ${t.command}`, el("span", { class: `exit ${t.exit_code === 0 ? "ok" : "bad"}`, text: ` ${status}` }))];
    if (typeof t.stdout === "string" && t.stdout) parts.push(el("pre", { tabindex: "0", text: t.stdout }));
    if (typeof t.stderr === "string" && t.stderr) parts.push(el("pre", { class: "stderr", tabindex: "0", text: t.stderr }));
    if (t.stdout === undefined && t.stderr === undefined) {
      parts.push(el("p", { class: "note", text: `Output removed by redaction (${t.stdout_len ?? "?"} bytes out, ${t.stderr_len ?? "?"} bytes err).` }));
    } else if (!t.stdout && !t.stderr) {
      parts.push(el("p", { class: "note", text: "No output." }));
    }
    if (t.truncated) parts.push(el("p", { class: "note", text: "Output was cut at the bundle's cap." }));
    return el("div", { class: "cmd" }, ...parts);
  });
  $("transcript").replaceChildren(...items);
  panel.hidden = false;
}

/** Renders a finished session: `verdict` to show, `view` what the bundle derives. */
function renderAll(verdict, view, transcript, mode) {
  renderVerdict(verdict, view);
  renderMismatch(verdict, view, mode);
  renderTimeline(verdict, view);
  renderServer(view);
  renderTranscript(transcript);
}

// ---------------------------------------------------------------------------------------------
// Downloads

function save(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function cid() {
  return (current && current.connectionId) || "session";
}

$("dl-events").addEventListener("click", () => {
  if (current) save(`sshdiag-${cid()}.events.jsonl`, current.eventsJsonl(), "application/x-ndjson");
});

let previewed = null;
$("redacted-preview-box").addEventListener("toggle", () => {
  if (!$("redacted-preview-box").open || !current) return;
  try {
    previewed = current.bundle({ redact: true });
    $("redacted-preview").textContent = previewed;
  } catch (e) {
    $("redacted-preview").textContent = messageOf(e);
  }
});

$("dl-redacted").addEventListener("click", () => {
  if (!current) return;
  // Save exactly what the preview shows when it is open, otherwise a fresh redaction.
  const text = $("redacted-preview-box").open && previewed ? previewed : current.bundle({ redact: true });
  save(`sshdiag-${cid()}.bundle.json`, text, "application/json");
});

$("dl-raw").addEventListener("click", () => {
  if (!current) return;
  const dialog = $("raw-dialog");
  if (typeof dialog.showModal === "function") {
    dialog.showModal();
    $("raw-cancel").focus();
  } else if (window.confirm("The raw bundle is not redacted: it contains host names, addresses, the user name and the commands' output (never passwords, keys or tokens). Download it?")) {
    save(`sshdiag-${cid()}.raw-bundle.json`, current.bundle({ redact: false }), "application/json");
  }
});
$("raw-cancel").addEventListener("click", () => { $("raw-dialog").close(); $("dl-raw").focus(); });
$("raw-confirm").addEventListener("click", () => {
  $("raw-dialog").close();
  if (current) save(`sshdiag-${cid()}.raw-bundle.json`, current.bundle({ redact: false }), "application/json");
  $("dl-raw").focus();
});

// ---------------------------------------------------------------------------------------------
// Bundle viewer

function showBundleError(message) {
  const p = $("bundle-error");
  p.textContent = message;
  p.hidden = !message;
}

async function openFile(file) {
  showBundleError("");
  if (!ready) { showBundleError("The viewer is still loading; try again in a moment."); return; }
  $("bundle-file").textContent = `${file.name} (${file.size} bytes)`;
  const maxBytes = Diagnostics.maxFileBytes();
  if (file.size > maxBytes) {
    $("results").hidden = true;
    $("intro").hidden = false;
    showBundleError(`${file.name}: this file is ${file.size} bytes, over the ${maxBytes / (1024 * 1024)} MiB limit for an evidence bundle.`);
    return;
  }
  let opened;
  let log;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    try {
      opened = Diagnostics.openBundle(bytes);
    } catch (e) {
      // An events.jsonl is not a bundle, but the viewer can show it too.
      if (!(e && e.kind === "looks-like-jsonl")) throw e;
      log = Diagnostics.openEventLog(bytes);
    }
  } catch (e) {
    $("results").hidden = true;
    $("intro").hidden = false;
    showBundleError(`${file.name}: ${messageOf(e)}`);
    return;
  }
  if (log) showEventLog(log, file.name);
  else showBundle(opened, file.name);
}

function showEventLog(log, name) {
  current = null;
  currentTarget = null;
  resetResults("bundle");
  for (const e of log.events) addEvent(e, JSON.stringify(e));
  const view = log.derived;
  const verdict = view.finished ? view.verdict : {
    ok: false, layer: null, code: "", hints: [],
    summary: "This event log has no VERDICT event: the session it records did not finish (or the log was cut).",
  };
  renderAll(verdict, view, [], "bundle");
  $("integrity-title").textContent = "Event log";
  const parts = [el("p", { class: "integrity warn", text: "An event log (JSON Lines), not a bundle: it carries no integrity digest, so edits cannot be detected." })];
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "File" }), el("dd", { text: name }),
    el("dt", { text: "Events" }), el("dd", { text: String(log.events.length) }));
  parts.push(facts);
  if (log.errors.length) {
    parts.push(el("p", { class: "integrity bad", text: `${log.errors.length} line${log.errors.length === 1 ? "" : "s"} could not be read; the rest is shown:` }),
      el("ul", {}, ...log.errors.slice(0, 20).map((err) => el("li", { class: "mono small", text: `line ${err.line}: ${err.message}` }))));
  }
  $("integrity-body").replaceChildren(...parts);
  $("verdict").focus();
}

function showBundle(opened, name) {
  const b = opened.bundle;
  $("integrity-title").textContent = "Bundle";
  current = null;
  currentTarget = null;
  resetResults("bundle");
  for (const e of b.events || []) addEvent(e, JSON.stringify(e));
  renderAll(opened.derived.verdict, opened.derived, b.transcript, "bundle");
  const integrity = $("integrity-body");
  const facts = el("dl", { class: "facts" });
  const fact = (k, val, cls) => { if (val !== undefined && val !== null && val !== "") facts.append(el("dt", { text: k }), el("dd", { class: cls, text: String(val) })); };
  const status = {
    valid: ["ok", "✔ Intact: the bundle is exactly as sshdiag wrote it."],
    mismatch: ["bad", "✘ Edited: the bundle was changed after sshdiag wrote it, so its contents cannot be relied on."],
    missing: ["warn", "? Unchecked: the bundle has no integrity digest, so edits cannot be detected."],
  }[opened.integrity] || ["warn", String(opened.integrity)];
  const parts = [el("p", { class: `integrity ${status[0]}`, text: status[1] })];
  if (opened.integrityDetail) {
    fact("Expected SHA-256", opened.integrityDetail.expected, "mono small");
    fact("Actual SHA-256", opened.integrityDetail.actual, "mono small");
  }
  fact("File", name);
  fact("Created", b.created_ms ? new Date(b.created_ms).toISOString() : undefined);
  fact("Tool", b.tool ? `${b.tool.name} ${b.tool.version} (${b.tool.runtime})` : undefined);
  const hi = b.host_info || {};
  fact("Target", hi.host ? `${hi.username ?? "?"}@${hi.host}:${hi.port ?? "?"}` : undefined, "mono");
  fact("Relay", hi.proxy, "mono");
  fact("Redacted", b.redaction && b.redaction.applied ? "yes" : "no");
  fact("Connection id", b.connection_id, "mono");
  parts.push(facts);
  integrity.replaceChildren(...parts);
  $("verdict").focus();
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

// ---------------------------------------------------------------------------------------------
// Start: load the module, pre-fill from /relay.json

async function prefill() {
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
    return; // not served by a relay, or an old one: the form stays empty
  }
  if (info && info.token_required) {
    $("advanced").open = true;
    $("f-token").setAttribute("aria-describedby", "token-note");
    $("f-token").after(el("p", { id: "token-note", class: "note", text: "This relay wants a token: paste the one you were given." }));
  }
  const demo = info && info.demo;
  if (demo && typeof demo === "object") {
    if (!$("f-host").value) $("f-host").value = demo.host ?? "";
    if (demo.port) $("f-port").value = demo.port;
    if (!$("f-user").value) $("f-user").value = demo.username ?? "";
    if (typeof demo.password === "string" && !$("f-password").value) $("f-password").value = demo.password;
    if (Array.isArray(demo.commands) && demo.commands.length) $("f-commands").value = demo.commands.join("\n");
    $("load-status").textContent = "This relay runs a demo SSH server: the form is filled in for it. Press Run.";
  }
}

async function start() {
  showAuthFields();
  const filled = prefill();
  try {
    await init();
    ready = true;
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
