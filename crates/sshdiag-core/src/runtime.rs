//! The caller's clock, timer, randomness and key decoding. The core never calls `tokio::time`
//! or `std::time` itself: natively the CLI passes a tokio-backed [`Env`], in the browser the web
//! crate passes one built on `Date.now()` and `setTimeout`. This is what lets one probe run in
//! both places. Key decoding is here so that the browser's run module carries OpenSSH's own
//! key format only and fetches the code of the others when such a key is given.

use std::future::Future;
use std::pin::Pin;

use russh::keys::PrivateKey;

use crate::keydecode::KeyProblem;

/// A boxed future that need not be `Send` (browser futures are not).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Clock, sleep, randomness and key decoding, supplied by the front end.
pub trait Env: Send + Sync {
    /// Wall-clock Unix time in milliseconds (for event timestamps).
    fn now_unix_ms(&self) -> f64;
    /// A monotonic clock in milliseconds (for durations); any origin.
    fn monotonic_ms(&self) -> f64;
    /// Resolve after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()>;
    /// What runs this probe, for the bundle (`native` or `wasm32`).
    fn runtime_name(&self) -> &'static str;
    /// A user agent string, when there is one (browsers).
    fn user_agent(&self) -> Option<String> {
        None
    }
    /// Fill `buf` with random bytes (connection ids).
    fn random_bytes(&self, buf: &mut [u8]);
    /// Decode a private key's text, decrypting it with `passphrase`: natively every format,
    /// in-process ([`decode_any`](crate::keydecode::decode_any)); in the browser, OpenSSH's
    /// own format in place and the others by a module fetched when one is given. The same
    /// text and passphrase give the same result in both.
    fn decode_key<'a>(
        &'a self,
        text: &'a str,
        passphrase: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<PrivateKey, KeyProblem>>;
}
