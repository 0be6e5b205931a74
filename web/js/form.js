// The run form: the credential fields shown for the chosen type, the private key file and its
// certificate, the trusted host CAs (remembered in this browser's localStorage, like trusted
// host keys), and the options for `new Diagnostics` read from the fields, with the jump hosts
// of `jump.js`. A chosen key file's text stays in this module and goes only into those options.

import { $, answerLines, MAX_KEY_FILE_BYTES } from "./dom.js";
import { jumpOptions } from "./jump.js";

/** Where the trusted host CAs are kept (public keys only). */
const HOST_CAS_KEY = "sshdiag.trustedHostCas";

let keyFile = null; // { name, text } of a chosen private key file
let Diagnostics = null; // the JS API class, once the module is loaded

/** Called once the wasm module is loaded: a key chosen before then is looked at now. */
export function formReady(api) {
  Diagnostics = api;
  prepareKeyFormats();
}

/** A key in a format other than OpenSSH's (PKCS#8, PEM, PuTTY) is read by a module of its own:
 * fetch it as soon as such a key is chosen or pasted, so the run does not wait for it. A
 * failure is not shown here; the run tries again and says why it could not. */
function prepareKeyFormats() {
  const key = keyFile ? keyFile.text : $("f-key").value;
  if (Diagnostics && key) Diagnostics.loadKeyFormats(key).catch(() => {});
}

function authType() {
  const checked = document.querySelector('input[name="authType"]:checked');
  return checked ? checked.value : "password";
}

export function showAuthFields() {
  const t = authType();
  for (const div of document.querySelectorAll(".auth")) div.hidden = div.dataset.auth !== t;
}
for (const r of document.querySelectorAll('input[name="authType"]')) {
  r.addEventListener("change", showAuthFields);
}

$("f-keyfile").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  if (!file) return;
  if (file.size > MAX_KEY_FILE_BYTES) {
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
  prepareKeyFormats();
});

function forgetKeyFile() {
  keyFile = null;
  $("f-key").placeholder = "-----BEGIN OPENSSH PRIVATE KEY-----";
  $("f-keyfile-note").textContent = "";
  $("f-keyfile-clear").hidden = true;
}
$("f-keyfile-clear").addEventListener("click", () => { forgetKeyFile(); $("f-key").focus(); });
$("f-key").addEventListener("input", () => {
  if (keyFile && $("f-key").value) forgetKeyFile();
  prepareKeyFormats();
});

$("f-certfile").addEventListener("change", async (ev) => {
  const file = ev.target.files && ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  // A certificate is one line of a few kilobytes; anything much bigger is not one.
  if (file.size > 64 * 1024) {
    $("f-keyfile-note").textContent = `${file.name} is ${file.size} bytes: too large to be a certificate.`;
    return;
  }
  $("f-cert").value = (await file.text()).trim();
});

try {
  $("f-hostcas").value = localStorage.getItem(HOST_CAS_KEY) || "";
} catch (_) { /* no localStorage: the field starts empty */ }
function rememberHostCas() {
  try {
    const text = $("f-hostcas").value.trim();
    if (text) localStorage.setItem(HOST_CAS_KEY, text);
    else localStorage.removeItem(HOST_CAS_KEY);
  } catch (_) { /* not remembered; still used for this run */ }
}
$("f-hostcas").addEventListener("change", rememberHostCas);

function lines(text) {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/** The options for `new Diagnostics`, from the form. */
export function formOptions() {
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
  const jump = jumpOptions();
  if (jump.length) opts.jump = jump;
  rememberHostCas();
  const cas = lines($("f-hostcas").value);
  if (cas.length) opts.trustedHostCas = cas;
  switch (authType()) {
    case "password":
      opts.auth = { type: "password", password: $("f-password").value };
      break;
    case "privateKey": {
      const key = keyFile ? keyFile.text : $("f-key").value;
      opts.auth = { type: "privateKey", key };
      if ($("f-passphrase").value !== "") opts.auth.passphrase = $("f-passphrase").value;
      if (keyFile) opts.auth.label = keyFile.name;
      if ($("f-cert").value.trim() !== "") opts.auth.certificate = $("f-cert").value.trim();
      break;
    }
    case "keyboardInteractive":
      opts.auth = { type: "keyboardInteractive", answers: answerLines($("f-answers").value) };
      break;
    default:
      opts.auth = { type: "probe" };
  }
  return opts;
}

export function showFormError(message) {
  const p = $("form-error");
  p.textContent = message;
  p.hidden = !message;
}
