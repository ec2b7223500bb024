// Strings into wasm memory for `compile` (crates/convq-wasm/src/exports.rs): TextEncoder's
// encodeInto writes a whole string in one native call, where wasm-bindgen's own conversion
// copies it a character at a time. An ES module; `cargo xtask wasm` turns the closing `export`
// line into `module.exports` for the Node build (see js/tape.js).
"use strict";

const encoder = new TextEncoder();

/**
 * Writes `text` as UTF-8 into `into` (a view of wasm memory, at least three bytes per UTF-16
 * unit of `text`, so that it always fits) and returns the number of bytes written.
 * @param {string} text
 * @param {Uint8Array} into
 * @returns {number}
 */
function encodeUtf8(text, into) {
  return encoder.encodeInto(text, into).written;
}

export { encodeUtf8 };
