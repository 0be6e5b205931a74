//! Keeping secrets and identities out of what sshdiag writes (`shared/spec/bundle.md`,
//! "Secrets and redaction").
//!
//! [`Redactor`] turns identities into pseudonyms for the redacted bundle: usernames become
//! `user-<8 hex>`, host names `host-<8 hex>`, IP addresses (v4 and v6, also inside text such as
//! `203.0.113.5:22` or `[2001:db8::1]:22`) `ip-<8 hex>`. A pseudonym is the first four bytes of
//! HMAC-SHA256 under a random per-bundle key that is never stored, so one value gets one
//! pseudonym inside a bundle and nothing links two bundles. Should the platform have no random
//! source, pseudonyms are numbered in order of appearance instead, which keeps both properties.
//! Writing a bundle ([`Bundle::to_json`], raw or redacted) lives here too, since the redacted
//! form needs the redactor.
//!
//! Free-text secret scrubbing is the `scrub` module's (re-exported here, where callers have
//! always found it); this module depends on bundles and scrubbing, and neither depends on it.
//!
//! # What the redacted bundle replaces
//!
//! Identities are found in two ways. Fields that *are* an identity (`username`, `host`,
//! `remote_host`, the relay URL's host …) are replaced whole, and their values are remembered.
//! Then every free-text string in the document — messages, hints, summary, reasons, banner,
//! peer, source and resolved addresses, commands, error context, unknown event types — has each
//! remembered value replaced where it stands as a whole word, and every IP address replaced
//! wherever it appears. Transcript `stdout`/`stderr` are removed (their lengths stay).
//!
//! Kept as they are: algorithm names and proposals, fingerprints, the server's software
//! version, codes, levels, statuses, timings, and the tool's own description.
//!
//! The traversal of a bundle's strings is the bundle's own (`bundle::walk`); it destructures
//! every event data struct without `..`, so adding a field to one fails to compile there until
//! someone decides how it is redacted.
//!
//! This module never stores the pseudonym key, never does I/O, and never leaves a secret it
//! recognises in its output; what it does not recognise it cannot remove, which is why the
//! core never puts secrets into events in the first place.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::bundle::{Bundle, BundleError, FORMAT, LoadedDigest, VERSION};

mod ip;
mod pseudonymize;

pub use crate::scrub::{
    REDACTED, REDACTED_PRIVATE_KEY, is_secret_key, scrub_secrets, scrub_secrets_counted,
};
pub use ip::find_ip_addresses;
use ip::parse_ip;

/// What kind of identity a pseudonym stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// A user name: `user-…`.
    Username,
    /// A host name: `host-…`.
    Host,
    /// An IP address: `ip-…`.
    Address,
}

impl IdentityKind {
    /// The pseudonym's prefix: `user`, `host` or `ip`.
    pub fn prefix(self) -> &'static str {
        match self {
            IdentityKind::Username => "user",
            IdentityKind::Host => "host",
            IdentityKind::Address => "ip",
        }
    }
}

/// Makes pseudonyms under one key (one per bundle). Its `Debug` never shows the key.
pub struct Redactor {
    key: Option<[u8; 32]>,
    memo: HashMap<(IdentityKind, String), String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("keyed", &self.key.is_some())
            .field("pseudonyms", &self.memo.len())
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new()
    }
}

impl Redactor {
    /// A redactor under a fresh random key (numbered pseudonyms if there is no random source).
    pub fn new() -> Redactor {
        let mut key = [0u8; 32];
        match getrandom::fill(&mut key) {
            Ok(()) => Redactor::with_key(key),
            Err(_) => Redactor {
                key: None,
                memo: HashMap::new(),
            },
        }
    }

    /// A redactor under a given key, for reproducible output in tests.
    pub fn with_key(key: [u8; 32]) -> Redactor {
        Redactor {
            key: Some(key),
            memo: HashMap::new(),
        }
    }

    /// The pseudonym of `value`: `user-1a2b3c4d`, `host-…`, `ip-…`. Host names compare without
    /// regard to ASCII case or a trailing dot, addresses by their canonical form.
    pub fn pseudonym(&mut self, kind: IdentityKind, value: &str) -> String {
        let normal = match kind {
            IdentityKind::Username => value.to_string(),
            IdentityKind::Host => value.trim_end_matches('.').to_ascii_lowercase(),
            IdentityKind::Address => {
                parse_ip(value).map_or_else(|| value.to_string(), |ip| ip.to_string())
            }
        };
        let memo_key = (kind, normal);
        if let Some(known) = self.memo.get(&memo_key) {
            return known.clone();
        }
        let number = self.memo.len() as u32 + 1;
        let tag = match self
            .key
            .as_ref()
            .and_then(|key| Hmac::<Sha256>::new_from_slice(key).ok())
        {
            Some(mut mac) => {
                mac.update(kind.prefix().as_bytes());
                mac.update(&[0]);
                mac.update(memo_key.1.as_bytes());
                hex::encode(&mac.finalize().into_bytes()[..4])
            }
            None => format!("{number:08x}"),
        };
        let pseudonym = format!("{}-{tag}", kind.prefix());
        self.memo.insert(memo_key, pseudonym.clone());
        pseudonym
    }
}

impl Bundle {
    /// The bundle as JSON (pretty-printed), redacted or raw, with a fresh integrity hash.
    ///
    /// Raw (`redact = false`) is the bundle as it is, with free text passed through the
    /// secret scrubber (a no-op for bundles made by [`Bundle::from_session`]). Redacted
    /// replaces identities with pseudonyms and removes output; see the module docs. A bundle
    /// that is already redacted is written as it is either way.
    pub fn to_json(&self, redact: bool) -> String {
        match self.try_to_json(redact) {
            Ok(json) => json,
            // Only a bug can get here (every part of a bundle serialises); still hand back a
            // document that says so rather than nothing.
            Err(error) => serde_json::json!({
                "format": FORMAT,
                "version": VERSION,
                "connection_id": self.connection_id,
                "error": error.to_string(),
            })
            .to_string(),
        }
    }

    /// [`Bundle::to_json`], reporting a serialisation failure instead of hiding it.
    pub fn try_to_json(&self, redact: bool) -> Result<String, BundleError> {
        let output = if redact && !self.redaction.applied {
            self.redacted()
        } else {
            let mut raw = self.clone();
            raw.redaction.replaced.secret += crate::bundle::walk::scrub_bundle(&mut raw);
            raw.seal();
            raw
        };
        crate::bundle::canonical::to_pretty(&output).map_err(|e| BundleError::Serialize {
            reason: e.to_string(),
        })
    }

    /// A redacted copy under a fresh random key; see the module docs.
    pub fn redacted(&self) -> Bundle {
        self.redacted_with(&mut Redactor::new())
    }

    /// A redacted copy under the given redactor's key (tests use a fixed key).
    pub fn redacted_with(&self, redactor: &mut Redactor) -> Bundle {
        let mut bundle = self.clone();
        pseudonymize::redact_bundle(&mut bundle, redactor);
        bundle.loaded_digest = LoadedDigest(None);
        bundle.seal();
        bundle
    }
}
