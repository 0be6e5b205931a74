// The page's small shared helpers: element lookup and creation, number and time formats, the
// phase names, the names of a jump-host chain's hops, and the plain-language form of wire
// values. Never innerHTML: everything shown
// is data, so every text goes in as a text node.

export const PHASES = ["relay", "dns", "tcp", "banner", "kex", "hostkey", "auth", "channel", "exec"];
export const PHASE_NAMES = {
  relay: "Relay (WebSocket)", dns: "DNS", tcp: "TCP", banner: "Banner", kex: "Key exchange",
  hostkey: "Host key", auth: "Authentication", channel: "Channel", exec: "Commands",
};

export const $ = (id) => document.getElementById(id);

/** The largest file the page reads as a private key (the target's and each jump host's). */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

/** The answers of a keyboard-interactive box, one per line (a trailing empty line dropped). */
export function answerLines(text) {
  return text.split(/\r?\n/).filter((a, i, all) => a !== "" || i < all.length - 1);
}

/** Creates an element with text and attributes. */
export function el(tag, attrs = {}, ...children) {
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

/** A `<dl class="facts">` and a function that adds a term and its value (skipping empty ones). */
export function factList() {
  const list = el("dl", { class: "facts" });
  const add = (term, value, cls) => {
    if (value !== undefined && value !== null && value !== "") {
      list.append(el("dt", { text: term }), el("dd", { class: cls, text: String(value) }));
    }
  };
  return [list, add];
}

/** A message for a thrown value, for people. */
export function messageOf(e) {
  if (e && typeof e.message === "string") return e.message;
  return String(e);
}

export function fmtMs(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "";
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** A byte count for people: `87 B`, `12.3 KiB`. */
export function fmtBytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return "? B";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A wire value (`accepted_new`, `accept-new`) in plain words (`accepted new`). */
export function plain(value) {
  return value === undefined || value === null ? value : String(value).replace(/[_-]+/g, " ");
}

/**
 * How the page names a server of a chain: "jump host 1 (bastion:22)" or "target (db:22)" when
 * the number of jump hosts is known (`jumps`), else "hop 1 (bastion:22)".
 */
export function hopName(hop, jumps) {
  if (!hop) return "";
  const where = `${hop.host}:${hop.port}`;
  if (typeof jumps === "number") {
    return hop.index < jumps ? `jump host ${hop.index + 1} (${where})` : `target (${where})`;
  }
  return `hop ${hop.index + 1} (${where})`;
}
