// The "Through a jump host" section: the jump hosts a run passes through before the target
// (the JS API's `jump` option, OpenSSH's ProxyJump), each with its host, port, user and
// credential (the target's, a password, a private key pasted or chosen as a file, or
// keyboard-interactive answers), added and removed by the user. A hop's password, key or
// answers stay in its fields (a chosen key file's text in this module) and go only into the
// options.

import { $, answerLines, el, MAX_KEY_FILE_BYTES } from "./dom.js";

/** The credentials a jump host may use; "same" leaves `auth` out (the target's is used). */
const AUTH_CHOICES = [
  ["same", "Same as the target"],
  ["password", "Password"],
  ["privateKey", "Private key"],
  ["keyboardInteractive", "Keyboard-interactive answers"],
];

/** The key file chosen for a hop (its fieldset → `{ name, text }`); it never leaves the page. */
const keyFiles = new WeakMap();

/** The fields of a hop, each `id` as `f-jump-FIELD-N` (N from 1). */
function hopFields(fieldset) {
  const f = {};
  for (const node of fieldset.querySelectorAll("[data-field]")) f[node.dataset.field] = node;
  return f;
}

/** Gives every hop its number again (ids, labels, legend) after one was added or removed. */
function renumber() {
  const hops = [...$("jump-hops").querySelectorAll("fieldset.hop")];
  hops.forEach((fieldset, i) => {
    const n = i + 1;
    fieldset.querySelector("legend").textContent = `Jump host ${n}${hops.length > 1 ? ` of ${hops.length}` : ""}`;
    for (const node of fieldset.querySelectorAll("[data-field]")) node.id = `f-jump-${node.dataset.field}-${n}`;
    for (const label of fieldset.querySelectorAll("label[data-for]")) label.htmlFor = `f-jump-${label.dataset.for}-${n}`;
    hopFields(fieldset).remove.textContent = `Remove jump host ${n}`;
  });
  $("jump-count").textContent = hops.length
    ? `${hops.length} jump host${hops.length > 1 ? "s" : ""}, passed through in this order, then the target.`
    : "No jump host: the relay connects to the target itself.";
}

function labelled(field, text, control) {
  return el("div", { class: "row" }, el("label", { "data-for": field, text }), control);
}

/** Shows the credential fields of the hop's chosen type. */
function showHopAuth(fieldset) {
  const f = hopFields(fieldset);
  const t = f.auth.value;
  f.password.closest(".row").hidden = t !== "password";
  f.key.closest(".row").hidden = t !== "privateKey";
  f.keyfile.closest(".row").hidden = t !== "privateKey";
  f.passphrase.closest(".row").hidden = t !== "privateKey";
  f.answers.closest(".row").hidden = t !== "keyboardInteractive";
}

/** Uses the chosen file as the hop's key, as the target's key field does. */
async function takeKeyFile(fieldset) {
  const f = hopFields(fieldset);
  const file = f.keyfile.files && f.keyfile.files[0];
  f.keyfile.value = "";
  if (!file) return;
  if (file.size > MAX_KEY_FILE_BYTES) {
    f.keynote.textContent = `${file.name} is ${file.size} bytes: too large to be a private key.`;
    return;
  }
  keyFiles.set(fieldset, { name: file.name, text: await file.text() });
  f.key.value = "";
  f.key.placeholder = `Using the key file ${file.name}`;
  f.keynote.textContent = `Using the key file ${file.name} (${file.size} bytes). It stays in this page.`;
}

/** Forgets a hop's key file (a key typed or pasted replaces it). */
function forgetKeyFile(fieldset) {
  const f = hopFields(fieldset);
  keyFiles.delete(fieldset);
  f.key.placeholder = "-----BEGIN OPENSSH PRIVATE KEY-----";
  f.keynote.textContent = "";
}

/** Adds a hop at the end, filled from `{ host, port, user }` when given; returns its fieldset. */
export function addHop(values = {}) {
  const auth = el("select", { "data-field": "auth" },
    ...AUTH_CHOICES.map(([v, text]) => el("option", { value: v, text })));
  const fieldset = el("fieldset", { class: "hop" },
    el("legend", {}),
    labelled("host", "Host", el("input", { "data-field": "host", autocomplete: "off", spellcheck: "false", placeholder: "bastion.example.com" })),
    el("div", { class: "row row-inline" },
      el("div", {}, el("label", { "data-for": "port", text: "Port" }),
        el("input", { "data-field": "port", type: "number", min: "1", max: "65535", value: "22", inputmode: "numeric" })),
      el("div", { class: "grow" }, el("label", { "data-for": "user", text: "Username" }),
        el("input", { "data-field": "user", autocomplete: "off", spellcheck: "false", placeholder: "same as the target" }))),
    labelled("auth", "Credential", auth),
    labelled("password", "Password", el("input", { "data-field": "password", type: "password", autocomplete: "off" })),
    labelled("key", "Private key (paste it, or choose a file)", el("textarea", { "data-field": "key", rows: "3", spellcheck: "false", autocomplete: "off", placeholder: "-----BEGIN OPENSSH PRIVATE KEY-----" })),
    el("div", { class: "row" },
      el("label", { class: "file-button", "data-for": "keyfile", text: "Choose a key file…" }),
      el("input", { "data-field": "keyfile", type: "file", class: "visually-hidden-file" }),
      el("p", { class: "note", "data-field": "keynote", "aria-live": "polite" })),
    labelled("passphrase", "Passphrase (if the key has one)", el("input", { "data-field": "passphrase", type: "password", autocomplete: "off" })),
    labelled("answers", "Answers to its prompts, one per line", el("textarea", { "data-field": "answers", rows: "2", spellcheck: "false", autocomplete: "off", class: "secret-text" })),
    el("button", { type: "button", "data-field": "remove" }));
  const f = hopFields(fieldset);
  if (values.host) f.host.value = values.host;
  if (values.port) f.port.value = values.port;
  if (values.user) f.user.value = values.user;
  auth.addEventListener("change", () => showHopAuth(fieldset));
  f.keyfile.addEventListener("change", () => takeKeyFile(fieldset));
  f.key.addEventListener("input", () => { if (f.key.value) forgetKeyFile(fieldset); });
  f.remove.addEventListener("click", () => {
    const next = fieldset.nextElementSibling || fieldset.previousElementSibling;
    fieldset.remove();
    renumber();
    (next ? hopFields(next).host : $("jump-add")).focus();
  });
  $("jump-hops").append(fieldset);
  showHopAuth(fieldset);
  renumber();
  return fieldset;
}

$("jump-add").addEventListener("click", () => hopFields(addHop()).host.focus());
renumber();

/** Removes every hop (a support link names its own chain). */
export function clearHops() {
  $("jump-hops").replaceChildren();
  renumber();
}

/** The `jump` option from the section: one entry per hop, in order (the page checks hosts). */
export function jumpOptions() {
  const out = [];
  for (const fieldset of $("jump-hops").querySelectorAll("fieldset.hop")) {
    const f = hopFields(fieldset);
    const hop = { host: f.host.value.trim() };
    const port = f.port.value.trim();
    if (port !== "") hop.port = Number(port);
    const user = f.user.value.trim();
    if (user !== "") hop.username = user;
    if (f.auth.value === "password") hop.auth = { type: "password", password: f.password.value };
    if (f.auth.value === "privateKey") {
      const file = keyFiles.get(fieldset);
      hop.auth = { type: "privateKey", key: file ? file.text : f.key.value };
      if (file) hop.auth.label = file.name;
      if (f.passphrase.value !== "") hop.auth.passphrase = f.passphrase.value;
    }
    if (f.auth.value === "keyboardInteractive") {
      hop.auth = { type: "keyboardInteractive", answers: answerLines(f.answers.value) };
    }
    out.push(hop);
  }
  return out;
}
