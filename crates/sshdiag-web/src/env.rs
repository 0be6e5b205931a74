//! The browser's clock and timer for the core: `Date.now()`, `performance.now()` and
//! `setTimeout` (found on the global object, so it works in a window or a worker).

use sshdiag_core::keydecode::{KeyProblem, PrivateKey};
use sshdiag_core::runtime::{Env, LocalBoxFuture};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

pub struct BrowserEnv;

fn global() -> js_sys::Object {
    js_sys::global()
}

/// Resolve after `ms` milliseconds, on the browser's timer.
pub async fn sleep_ms(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let set_timeout = js_sys::Reflect::get(&global(), &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(f) = set_timeout {
            let _ = f.call2(&JsValue::NULL, &resolve, &JsValue::from_f64(ms as f64));
        } else {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

impl Env for BrowserEnv {
    fn now_unix_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn monotonic_ms(&self) -> f64 {
        js_sys::Reflect::get(&global(), &JsValue::from_str("performance"))
            .ok()
            .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
            .map(|p| p.now())
            .unwrap_or_else(js_sys::Date::now)
    }

    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        Box::pin(sleep_ms(ms))
    }

    fn runtime_name(&self) -> &'static str {
        "wasm32"
    }

    fn user_agent(&self) -> Option<String> {
        js_sys::Reflect::get(&global(), &JsValue::from_str("navigator"))
            .ok()
            .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("userAgent")).ok())
            .and_then(|u| u.as_string())
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_err() {
            for b in buf.iter_mut() {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }

    fn decode_key<'a>(
        &'a self,
        text: &'a str,
        passphrase: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<PrivateKey, KeyProblem>> {
        Box::pin(crate::keys::decode_key(text, passphrase))
    }
}
