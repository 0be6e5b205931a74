//! The caller's clock and timer. The core never calls `tokio::time` or `std::time` itself:
//! natively the CLI passes a tokio-backed [`Env`], in the browser the web crate passes one built
//! on `Date.now()` and `setTimeout`. This is what lets one probe run in both places.

use std::future::Future;
use std::pin::Pin;

/// A boxed future that need not be `Send` (browser futures are not).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Clock and sleep, supplied by the front end.
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
}
