// Support links: a page opened as `…/#host=H&port=P&user=U&relay=URL&command=C&token=T`
// (and `jump=[USER@]HOST[:PORT]`, once per jump host, in order; docs/embed.md) is pre-filled
// from its fragment, which browsers never send to a server. The
// token is removed from the address bar and from the history entry as soon as it is read.
// Never a password, passphrase or key from a URL: such keys are dropped unread, and the page
// says so.

/** The keys a support link may carry. */
const LINK_KEYS = ["host", "port", "user", "relay", "command", "token", "jump"];

/** `[user@]host[:port]` (a bracketed IPv6 address allowed), or null when it is not one. */
export function parseJump(text) {
  const m = /^(?:([^@\s:/]+)@)?(\[[0-9a-fA-F:.]+\]|[^@\s:/[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return null;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return null;
  return { user: m[1], host: m[2].replace(/^\[|\]$/g, ""), port };
}

/** Keys that look like a secret someone tried to put in a link; they are never used. */
const SECRET_KEY = /pass|key|secret|answer|identity|credential/i;

/**
 * Reads the support link in `location.hash`, if there is one, and rewrites the current history
 * entry without its token (and without any secret-looking key). Returns
 * `{ host, port, user, relay, commands, token, refused }` (`refused`: the secret-looking keys
 * that were dropped), or null when the fragment is not a link (empty, or a plain `#anchor`).
 */
export function readLink() {
  const fragment = location.hash.replace(/^#/, "");
  if (!fragment.includes("=")) return null;
  const params = new URLSearchParams(fragment);
  const keys = [...new Set(params.keys())];
  const refused = keys.filter((k) => !LINK_KEYS.includes(k) && SECRET_KEY.test(k));
  if (!keys.some((k) => LINK_KEYS.includes(k)) && !refused.length) return null;
  const value = (k) => {
    const v = params.get(k);
    return v === null || v.trim() === "" ? undefined : v.trim();
  };
  const link = {
    host: value("host"),
    port: value("port"),
    user: value("user"),
    relay: value("relay"),
    commands: params.getAll("command").filter((c) => c.trim() !== ""),
    jumps: params.getAll("jump").filter((j) => j.trim() !== "").map(parseJump),
    token: value("token"),
    refused,
  };
  // A jump host that is not [user@]host[:port] may hold anything (`user:password@host`).
  const badJump = link.jumps.includes(null);
  if (params.has("token") || refused.length || badJump) {
    // Keep what is harmless to see again (target, user, commands, jump hosts), so a reload
    // still shows the target; the token and any secret leave the address bar and this
    // history entry.
    const kept = new URLSearchParams();
    for (const [k, v] of params) {
      if (LINK_KEYS.includes(k) && k !== "token" && !(k === "jump" && !parseJump(v))) kept.append(k, v);
    }
    const rest = kept.toString();
    history.replaceState(history.state, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  return link;
}

/**
 * Fills the form from a link read by `readLink` (the jump hosts through `hops`: jump.js's
 * `{ addHop, clearHops }`); returns the sentence to show about it.
 */
export function fillFromLink(link, $, hops) {
  const set = (id, v) => { if (v !== undefined) $(id).value = v; };
  set("f-host", link.host);
  if (link.port !== undefined && /^\d{1,5}$/.test(link.port)) $("f-port").value = link.port;
  set("f-user", link.user);
  set("f-proxy", link.relay);
  if (link.commands.length) $("f-commands").value = link.commands.join("\n");
  if (link.host) {
    // A link names its target and grants its own token: a credential or token typed for an
    // earlier target must not go to this one.
    for (const id of ["f-password", "f-key", "f-passphrase", "f-answers"]) $(id).value = "";
    $("f-token").value = link.token ?? "";
    // Its chain too: jump hosts typed for an earlier target are not this one's.
    hops.clearHops();
  } else {
    set("f-token", link.token);
  }
  const jumps = link.jumps.filter((j) => j !== null);
  if (jumps.length) {
    hops.clearHops();
    for (const j of jumps) hops.addHop(j);
    $("jump").open = true;
  }
  const parts = [];
  if (link.host) {
    const via = jumps.length ? ` through ${jumps.map((j) => `${j.user ? `${j.user}@` : ""}${j.host}${j.port ? `:${j.port}` : ""}`).join(", ")}` : "";
    parts.push(`Filled in from your support link: ${link.user ? `${link.user}@` : ""}${link.host}:${$("f-port").value}${via}${link.token ? ", with a relay token" : ""}. Enter your credential and press Run.`);
  }
  if (link.jumps.some((j) => j === null)) {
    parts.push("A jump host in the link is not [user@]host[:port]; it was left out.");
  }
  if (link.refused.length) {
    parts.push(`The link also carried ${link.refused.map((k) => `“${k}”`).join(", ")}: a link never gives a password, passphrase or key, so it was ignored. Type it yourself.`);
  }
  return parts.join(" ");
}
