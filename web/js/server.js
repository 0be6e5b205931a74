// The server panel: banner, software, host key and its status, the negotiated algorithms, both
// sides' proposals and the algorithm audit, as the bundle derives them.

import { $, el, factList, plain } from "./dom.js";

const PROPOSAL_ROWS = [
  ["kex", "Key exchange", "kex"], ["host_key", "Host key", "host_key"],
  ["cipher_cs", "Cipher client→server", "cipher_cs"], ["cipher_sc", "Cipher server→client", "cipher_sc"],
  ["mac_cs", "MAC client→server", "mac_cs"], ["mac_sc", "MAC server→client", "mac_sc"],
  ["compression_cs", "Compression client→server", "compression_cs"], ["compression_sc", "Compression server→client", "compression_sc"],
];

/** Server facts, algorithms and the audit, as the bundle derives them (`view`). */
export function renderServer(view) {
  const out = [];
  const server = view.server || {};
  const algos = view.algorithms || {};
  const negotiated = PROPOSAL_ROWS.some(([key]) => algos[key] != null);
  const withProposals = algos.client_proposal || algos.server_proposal;
  const [facts, fact] = factList();
  fact("Banner", server.banner, "mono");
  fact("Software", server.software);
  if (view.pre_banner_lines.length) fact("Lines before the banner", view.pre_banner_lines.join(" ⏎ "), "mono");
  fact("Client", view.client_version, "mono");
  if (server.host_key) fact("Host key", `${server.host_key.algorithm} ${server.host_key.fingerprint_sha256}`, "mono");
  if (view.host_key_status) fact("Host key status", `${plain(view.host_key_status)}${view.host_key_policy ? ` (policy ${plain(view.host_key_policy)})` : ""}`);
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
    out.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Negotiated algorithms" }, chosen));
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
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Both proposals" }, table)));
  }
  const inventory = server.host_keys;
  if (inventory && Array.isArray(inventory.keys) && inventory.keys.length) {
    const how = inventory.source === "scan" ? "one key exchange per type" : "announced by the server after login";
    out.push(el("h3", { text: `The server's host keys (${how})` }),
      el("ul", { class: "host-keys", id: "host-keys" }, ...inventory.keys.map((k) => el("li", {},
        el("span", { class: "mono", text: `${k.algorithm} ${k.fingerprint_sha256 || "—"}` }),
        k.presented ? " — shown to this run" : "",
        k.trusted_at ? ` — trusted (${k.trusted_at})` : k.error ? ` — ${k.error}` : " — not trusted here",
        k.proven || k.error ? "" : " — NOT proven: do not trust it"))));
    const stale = (inventory.trusted || []).filter((t) => !t.matched);
    if (stale.length) {
      out.push(el("p", { class: "note", text: `Trusted but not among the server's keys: ${stale.map((t) => `${t.algorithm} ${t.fingerprint_sha256}${t.source ? ` (${t.source})` : ""}`).join(", ")}.` }));
    }
  }
  const findings = [...view.audit];
  if (findings.length) {
    const order = { broken: 0, weak: 1, note: 2, ok: 3, good: 4 };
    findings.sort((a, b) => (order[a.grade] ?? 9) - (order[b.grade] ?? 9));
    out.push(el("h3", { text: "Algorithm audit of the server's offer" }),
      el("ul", { class: "audit" }, ...findings.map((f) => el("li", { class: `grade-${f.grade}` },
        el("span", { class: "grade", text: f.grade }), " ",
        el("span", { class: "mono", text: `${plain(f.category)} ${f.algorithm}` }),
        f.reason ? ` — ${f.reason}` : "",
        f.fix ? el("div", { class: "mono small fix", text: f.fix }) : ""))));
  }
  $("server").replaceChildren(...out);
}

