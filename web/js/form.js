// The run form: the credential fields shown for the chosen type, the private key file, and
// the options for `new Diagnostics` read from the fields. A chosen key file's text stays in
// this module and goes only into those options.

import { $ } from "./dom.js";

let keyFile = null; // { name, text } of a chosen private key file

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

export function showFormError(message) {
  const p = $("form-error");
  p.textContent = message;
  p.hidden = !message;
}
