// The events table and the raw JSONL view: events are listed as they arrive, one row each,
// with a filter by type and level. It derives no fact from them; the summaries only put each
// event's own fields into words.

import { $, el, fmtMs, hopName, plain } from "./dom.js";

const LEVELS = ["debug", "info", "warn", "error"];
let firstTimestamp = null;

/** One line of words for an event, from its own fields. */
export function summarize(e) {
  const d = e.data || {};
  const j = (xs) => (Array.isArray(xs) ? xs.join(", ") : "");
  switch (e.event_type) {
    case "CONNECT":
      if (d.status === "initiating") return `Connecting to ${d.host}:${d.port} as ${d.username ?? "?"}${d.proxy ? ` through ${d.proxy}` : ""}`;
      return `Connected${d.transport ? ` (${d.transport})` : ""}${d.auth_method ? `, logged in with ${d.auth_method}` : ""}`;
    case "PROXY": {
      const parts = [plain(d.status)];
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
      return `Key exchange failed${d.category ? ` (no common ${plain(d.category)})` : ""}`;
    case "HOSTKEY":
      return `${d.algorithm} ${d.fingerprint_sha256} — ${plain(d.status)}${d.expected_fingerprint ? `, expected ${d.expected_fingerprint}` : ""}`;
    case "AUTH": {
      let s = `${d.method ?? "?"} for ${d.username ?? "?"}: ${plain(d.status)}`;
      if (d.methods_available) s += `; server accepts ${j(d.methods_available) || "nothing"}`;
      if (d.error_message) s += ` — ${d.error_message}`;
      return s;
    }
    case "CHANNEL":
      return `${d.channel_type} channel ${plain(d.status)}${d.reason ? `: ${d.reason}` : ""}`;
    case "EXEC":
      return `${d.command} → ${d.exit_code !== undefined && d.exit_code !== null ? `exit ${d.exit_code}` : d.exit_signal ? `signal ${d.exit_signal}` : "no exit status"}, ${d.stdout_len} B out, ${d.stderr_len} B err`;
    case "STATE_CHANGE":
      return `${plain(d.from_state)} → ${plain(d.to_state)}${d.reason ? ` (${d.reason})` : ""}`;
    case "ERROR":
      return `${d.error_type}: ${d.message}`;
    case "DISCONNECT":
      return `Disconnected: ${plain(d.reason)}${d.description ? ` (${d.description})` : ""}`;
    case "AUDIT":
      return `${d.grade}: ${plain(d.category)} ${d.algorithm}${d.reason ? ` — ${d.reason}` : ""}${d.fix ? ` Fix: ${d.fix}` : ""}`;
    case "VERDICT":
      return `${d.ok ? "OK" : "FAILED"}: ${d.summary}`;
    default: {
      const s = JSON.stringify(d);
      return s.length > 160 ? `${s.slice(0, 157)}…` : s;
    }
  }
}

function passesFilter(type, level) {
  const wanted = $("filter-type").value;
  const min = LEVELS.indexOf($("filter-level").value);
  if (wanted && type !== wanted) return false;
  const lvl = LEVELS.indexOf(level);
  return lvl < 0 || lvl >= min;
}

function updateCount() {
  const rows = [...$("events").tBodies[0].rows];
  const shown = rows.filter((r) => !r.hidden).length;
  $("event-count").textContent = shown === rows.length ? `${rows.length} events` : `${shown} of ${rows.length} events`;
}

function applyFilter() {
  for (const row of $("events").tBodies[0].rows) row.hidden = !passesFilter(row.dataset.type, row.dataset.level);
  updateCount();
}
$("filter-type").addEventListener("change", applyFilter);
$("filter-level").addEventListener("change", applyFilter);

/** Empties the table, the raw view and the filters. */
export function clearEvents() {
  firstTimestamp = null;
  $("events").tBodies[0].replaceChildren();
  $("raw-jsonl").textContent = "";
  $("filter-type").replaceChildren(el("option", { value: "", text: "all types" }));
  $("filter-level").value = "debug";
  updateCount();
}

/**
 * Adds one event (its object and its JSONL line) to the table and the raw view; through jump
 * hosts its summary starts with the server it belongs to (`jumps`: how many jump hosts the run
 * had, when known).
 */
export function addEvent(e, line, jumps) {
  if (firstTimestamp === null) firstTimestamp = e.timestamp;
  const iso = new Date(e.timestamp * 1000).toISOString();
  const tr = el("tr", { class: `lvl-${e.level}`, "data-type": e.event_type, "data-level": e.level },
    el("td", { class: "num" }, el("time", { datetime: iso, title: iso, text: `+${((e.timestamp - firstTimestamp) * 1000).toFixed(0)} ms` })),
    el("td", {}, el("span", { class: `badge t-${e.event_type}`, text: e.event_type })),
    el("td", { class: "code" }, e.code),
    el("td", {}, e.hop ? el("span", { class: "hop", text: `${hopName(e.hop, jumps)}: ` }) : null, summarize(e)));
  tr.hidden = !passesFilter(e.event_type, e.level);
  $("events").tBodies[0].append(tr);
  $("raw-jsonl").textContent += `${line}\n`;
  const sel = $("filter-type");
  if (![...sel.options].some((o) => o.value === e.event_type)) {
    sel.append(el("option", { value: e.event_type, text: e.event_type }));
  }
  updateCount();
}
