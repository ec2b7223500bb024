//! convq for JavaScript: `compile` and `getConversations` over WebAssembly, for web resources,
//! PCF controls, portal pages and Node.
//!
//! The exports (`#[wasm_bindgen]`, built only for `wasm32`) are thin: JS values become JSON text,
//! the host-testable modules below do the work, and the result becomes JS values again (through
//! the [`tape`] for `compile`, JSON text for `getConversations`). See `docs/wasm.md` for the JS
//! API and `cargo xtask wasm` for the build.
//!
//! - [`glue`]: options and input JSON → [`convq_core::compile`] → JSON text.
//! - [`tape`]: any `Serialize` value as words and text that `js/tape.js` turns into the JS value
//!   `JSON.parse` would give, in a fraction of the time.
//! - [`pager`]: the `retrieveMultipleRecords` / `nextLink` loop as a state machine.
//! - [`error`]: the adapter's own error codes and the shape of the thrown JS `Error`.

pub mod error;
pub mod glue;
pub mod pager;
pub mod tape;

#[cfg(target_arch = "wasm32")]
pub mod exports;

pub use error::{ADAPTER_ERROR_CODES, AdapterError, JS_ERROR_NAME, js_error_properties};
pub use pager::{ENTITY_LOGICAL_NAME, Pager, Step};
