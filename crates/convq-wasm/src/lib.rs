//! convq for JavaScript: `compile` and `getConversations` over WebAssembly, for web resources,
//! PCF controls, portal pages and Node.
//!
//! The exports (`#[wasm_bindgen]`, built only for `wasm32`) are thin: JS values become JSON text,
//! the host-testable modules below do the work, and serde_json's text becomes JS values again
//! through `JSON.parse`. See `docs/wasm.md` for the JS API and `cargo xtask wasm` for the build.
//!
//! - [`glue`]: options and input JSON → [`convq_core::compile`] → JSON text.
//! - [`pager`]: the `retrieveMultipleRecords` / `nextLink` loop as a state machine.
//! - [`live`]: `watchConversations`' stream URL, SSE parser and per-agent lists.
//! - [`error`]: the adapter's own error codes and the shape of the thrown JS `Error`.
//! - `double` (feature `testing`, on by default): the embedded store as a test double of
//!   `Microsoft.Omnichannel`, `createOmnichannel` in `convq/testing`.

#[cfg(feature = "testing")]
pub mod double;
pub mod error;
pub mod glue;
pub mod live;
pub mod pager;

#[cfg(target_arch = "wasm32")]
pub mod exports;

pub use error::{ADAPTER_ERROR_CODES, AdapterError, JS_ERROR_NAME, js_error_properties};
pub use pager::{ENTITY_LOGICAL_NAME, Pager, Step};
