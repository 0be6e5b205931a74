//! The human summary printed to stderr at the end of a run (unless `-q`).

use sshdiag_core::ProbeReport;

pub fn human_summary(report: &ProbeReport, notes: &[String]) -> String {
    let v = &report.verdict;
    let mut out = String::new();
    let mark = if v.ok { "OK" } else { "FAILED" };
    let layer = v.layer.map(|l| l.as_str()).unwrap_or("?");
    // The plain headline first; the type and code stay beside it for scripts and searches.
    let headline = sshdiag_events::headline(v.ok, v.error_type, &v.code);
    match &v.error_type {
        Some(et) => out.push_str(&format!(
            "sshdiag: {mark} at {layer} ({et}, {}): {headline}. {}\n",
            v.code, v.summary
        )),
        None => out.push_str(&format!(
            "sshdiag: {mark} (reached {layer}): {}\n",
            v.summary
        )),
    }
    for h in &v.hints {
        out.push_str(&format!("  hint: {h}\n"));
    }
    let phases: Vec<String> = v
        .phases
        .iter()
        .map(|(p, ms)| format!("{}={ms:.1}ms", p.as_str()))
        .collect();
    if !phases.is_empty() {
        out.push_str(&format!("  phases: {}\n", phases.join(" ")));
    }
    if !report.audit.is_empty() {
        out.push_str(&format!(
            "  {}\n",
            sshdiag_core::audit::summary(&report.audit)
        ));
        for f in report.audit.iter().filter(|f| f.grade.needs_fix()) {
            let fix = f
                .fix
                .as_deref()
                .map(|x| format!(" — fix: {x}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {} {} {}: {}{fix}\n",
                f.grade, f.category, f.algorithm, f.reason
            ));
        }
    }
    host_keys(report, &mut out);
    out.push_str(&format!("  connection_id: {}\n", report.connection_id));
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    out.trim_end().to_string()
}

/// The server's host keys (the last inventory), each with the known_hosts line it matches.
fn host_keys(report: &ProbeReport, out: &mut String) {
    use sshdiag_events::{EventData, InventorySource};
    let Some(inventory) = report.events.iter().rev().find_map(|e| match &e.data {
        EventData::HostkeyInventory(i) => Some(i),
        _ => None,
    }) else {
        return;
    };
    let how = match inventory.source {
        Some(InventorySource::Scan) => "one key exchange per type",
        _ => "announced after login",
    };
    out.push_str(&format!("  host keys ({how}):\n"));
    for k in &inventory.keys {
        let trust = match (&k.trusted_at, &k.error) {
            (Some(at), _) => format!("trusted at {at}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "not in known_hosts".to_string(),
        };
        let proof = if k.proven || k.error.is_some() {
            ""
        } else {
            ", NOT proven"
        };
        let shown = if k.presented {
            ", shown to this run"
        } else {
            ""
        };
        out.push_str(&format!(
            "    {} {} — {trust}{shown}{proof}\n",
            k.algorithm, k.fingerprint_sha256
        ));
    }
    for t in inventory.trusted.iter().filter(|t| !t.matched) {
        let at = t.source.as_deref().unwrap_or("known_hosts");
        out.push_str(&format!(
            "    {at}: {} {} is none of the server's keys\n",
            t.algorithm, t.fingerprint_sha256
        ));
    }
}
