// A support portal's use of the npm package, as docs/embed.md shows it. `tsc --noEmit` checks
// it against the package's generated declarations (tests/tests/page/types.rs); the
// `@ts-expect-error` lines fail the check if the types ever fall back to `any`.

import init, { Diagnostics } from "sshdiag-web";
import type { DiagnosticsOptions, Event, OpenedBundle, SessionView, VerdictData } from "sshdiag-web";
import initViewer, { maxFileBytes, openBundle, openEventLog } from "sshdiag-web/viewer";
import type { OpenedEventLog } from "sshdiag-web/viewer";

declare const passwordField: { value: string };
declare const token: string;
declare const keyText: string;
declare const certText: string;
declare function render(view: SessionView): void;
declare function upload(bundle: string): Promise<void>;

export async function diagnose(): Promise<boolean> {
  await init();
  const options: DiagnosticsOptions = {
    proxyUrl: "wss://relay.example.com/ws",
    host: "db1.customers.example", port: 22, username: "alice",
    auth: { type: "password", password: passwordField.value },
    commands: ["uname -a"],
    connectTimeoutMs: 10000,
    hostKeyPolicy: "accept-new",
    algorithms: { kex: "+diffie-hellman-group14-sha256" },
    token,
  };
  const d = new Diagnostics(options);
  d.onEvent((event: Event) => {
    if (event.event_type === "VERDICT") {
      const ok: boolean = event.data.ok;
      console.log(ok, event.data.summary);
    } else if (event.event_type === "HOSTKEY") {
      console.log(event.data.fingerprint_sha256);
    }
    render(d.derived());
  });
  const limit: number | undefined = d.timeLimitMs;
  const timer = setTimeout(() => d.cancel(), limit ?? 120000);
  const verdict: VerdictData = await d.run();
  clearTimeout(timer);
  if (!verdict.ok) console.log(verdict.error_type, verdict.layer, (verdict.hints ?? []).join("\n"));
  await upload(d.bundle({ redact: true }));
  // The viewer's module is fetched on the first call: these return Promises.
  await Diagnostics.loadViewer();
  const opened: OpenedBundle = await Diagnostics.openBundle(d.bundle({ redact: true }));
  if (opened.integrity === "mismatch" && opened.integrityDetail) {
    console.log(opened.integrityDetail.expected, opened.integrityDetail.actual);
  }
  console.log(opened.bundle.verdict.summary, opened.derived.failed_phase);
  const log = await Diagnostics.openEventLog(d.eventsJsonl());
  console.log(log.events.length, log.errors.map((e) => e.line));
  // @ts-expect-error: openBundle resolves later; its result is not the bundle itself.
  const notYet: OpenedBundle = Diagnostics.openBundle("{}");
  console.log(notYet);
  return verdict.ok;
}

// A page that only views files: the viewer's module alone, whose functions answer at once.
export async function viewOnly(text: string): Promise<boolean> {
  await initViewer();
  const limit: number = maxFileBytes();
  if (text.length > limit) return false;
  const opened: OpenedBundle = openBundle(text);
  const log: OpenedEventLog = openEventLog(text);
  // @ts-expect-error: the viewer's integrity is one of three words.
  const unsure: boolean = opened.integrity === "maybe";
  console.log(unsure, log.derived.finished);
  return opened.integrity === "valid";
}

// Through a bastion with its own password, logging in to the target with a certificate, and
// trusting host certificates from the company's host CA.
export async function throughBastion(): Promise<string | undefined> {
  const d = new Diagnostics({
    host: "db1.internal", username: "alice",
    auth: { type: "privateKey", key: keyText, certificate: certText },
    jump: [
      { host: "bastion.example.com", port: 2222, username: "jump", auth: { type: "password", password: passwordField.value } },
      { host: "inner-bastion.internal" },
    ],
    trustedHostCas: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host-ca"],
  });
  await d.run();
  const view: SessionView = d.derived();
  const hops: string[] = view.hops.map((h) => `${h.index} ${h.host}:${h.port}`);
  console.log(hops.join(" → "));
  return view.failed_hop ? view.failed_hop.host : undefined;
}

export function mistakes(): void {
  // @ts-expect-error: an unknown option is refused by the types, as by the API.
  new Diagnostics({ host: "h", username: "u", hostname: "h" });
  // @ts-expect-error: `port` is a number.
  new Diagnostics({ host: "h", username: "u", port: "22" });
  // @ts-expect-error: `auth.type` is one of four.
  new Diagnostics({ host: "h", username: "u", auth: { type: "kerberos" } });
  // @ts-expect-error: `host` is required.
  new Diagnostics({ username: "u" });
  // @ts-expect-error: a jump host needs its `host`.
  new Diagnostics({ host: "h", username: "u", jump: [{ port: 22 }] });
  // @ts-expect-error: a jump host's keys are host, port, username and auth.
  new Diagnostics({ host: "h", username: "u", jump: [{ host: "b", user: "u" }] });
  // @ts-expect-error: the trusted host CAs are strings.
  new Diagnostics({ host: "h", username: "u", trustedHostCas: [{ key: "ssh-ed25519 AAAA" }] });
  const d = new Diagnostics({ host: "h", username: "u" });
  d.onEvent((event) => {
    // @ts-expect-error: a CONNECT event's data has no `ok`.
    if (event.event_type === "CONNECT") console.log(event.data.ok);
  });
}
