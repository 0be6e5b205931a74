//! The link to the viewer's module (`sshdiag-viewer`): `Diagnostics.openBundle` and
//! `openEventLog` load `sshdiag_viewer.js` (and its `sshdiag_viewer_bg.wasm`) on first use and
//! call its functions, so a run never downloads the code that reads bundles and event logs.
//!
//! The loading is a few lines of JS (a dynamic `import()`, which Rust cannot write), shipped by
//! wasm-bindgen as a snippet in `pkg/snippets/sshdiag-web-…/`; the `../../` of its import is
//! that folder's way back to `pkg/`, where the viewer's module sits beside this one. The first
//! load is shared by every caller; a load that failed (offline, say) is tried again on the next
//! call, and rejects with an Error of `kind` `"viewer-unavailable"`. It never reads a file
//! itself, and never loads anything but the viewer's module from beside this one.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let loading = null;
export function loadViewer() {
  if (!loading) {
    loading = import("../../sshdiag_viewer.js")
      .then(async (viewer) => { await viewer.default(); return viewer; })
      .catch((e) => {
        loading = null;
        const error = new Error(`the bundle viewer could not be loaded: ${e && e.message ? e.message : e}`);
        error.kind = "viewer-unavailable";
        throw error;
      });
  }
  return loading;
}
export function viewerReady() {
  return loadViewer().then(() => undefined);
}
export function viewerCall(name, input) {
  return loadViewer().then((viewer) => viewer[name](input));
}
"#)]
extern "C" {
    /// Loads the viewer's module if need be; resolves (to nothing) once it is ready.
    #[wasm_bindgen(js_name = viewerReady)]
    pub(crate) fn viewer_ready() -> js_sys::Promise;

    /// Loads the viewer's module if need be, then calls its function `name` with `input`.
    #[wasm_bindgen(js_name = viewerCall)]
    pub(crate) fn viewer_call(name: &str, input: &JsValue) -> js_sys::Promise;
}
