// Decodes the tape that `compile` writes (crates/convq-wasm/src/tape.rs, which documents the
// format) into the value JSON.parse would give for the same data. wasm-bindgen imports it into
// both builds: as this ES module in the web build, and as CommonJS in the Node build, where
// `cargo xtask wasm` turns the `export` line at the end into `module.exports` (so keep that line
// the file's only export and the file free of imports).
"use strict";

// Tags and key tags; tape.rs has the same numbers and a test that compares them.
const TAG_BITS = 3;
const TAG_MASK = 7;
const NULL = 0;
const BOOL = 1;
const INT = 2;
const NUMBER = 3;
const STRING = 4;
const ARRAY = 5;
const OBJECT = 6;
const KEY = 0;
const KEY_NEW = 1;
const KEY_TEXT = 2;

// Struct keys by index, kept across calls: tape.rs numbers them once per module instance.
const keys = [];

// The tape being read: module state rather than closures, so a decode allocates nothing but
// the value itself. Left as they are after a decode (the next one replaces them).
let words = new Uint32Array(0);
let text = "";
let word = 0;
let unit = 0;

function slice(length) {
  return text.slice(unit, (unit += length));
}

// A key word other than KEY (which `value` reads inline, being nearly all of them).
function otherKey(w) {
  const operand = w >>> TAG_BITS;
  switch (w & TAG_MASK) {
    case KEY_NEW: {
      const name = slice(operand);
      keys.push(name);
      return name;
    }
    case KEY_TEXT:
      return slice(operand);
    default:
      throw new Error(`convq: bad key word ${w} in the tape`);
  }
}

function value() {
  const w = words[word++];
  const operand = w >>> TAG_BITS;
  const tag = w & TAG_MASK;
  // Strings first: they are most of the values.
  if (tag === STRING) return slice(operand);
  switch (tag) {
    case NULL:
      return null;
    case BOOL:
      return operand === 1;
    case INT:
      return operand;
    case NUMBER:
      return Number(slice(operand));
    case ARRAY: {
      const array = [];
      for (let i = 0; i < operand; i++) array.push(value());
      return array;
    }
    case OBJECT: {
      const object = {};
      for (let i = 0; i < operand; i++) {
        const k = words[word++];
        const name = (k & TAG_MASK) === KEY ? keys[k >>> TAG_BITS] : otherKey(k);
        if (name === "__proto__") {
          // An own property, as JSON.parse makes it, not the prototype.
          Object.defineProperty(object, name, { value: value(), writable: true, enumerable: true, configurable: true });
        } else {
          // Assignment rather than defineProperty, for speed: it differs from JSON.parse only
          // where someone has put a setter of that name on Object.prototype.
          object[name] = value();
        }
      }
      return object;
    }
    default:
      throw new Error(`convq: bad value word ${w} in the tape`);
  }
}

/**
 * The value on the tape.
 * @param {string} tapeText every string of the value, in order
 * @param {Uint32Array} tapeWords the header word (how many keys `keys` should hold) and the value
 */
function decodeTape(tapeText, tapeWords) {
  words = tapeWords;
  text = tapeText;
  word = 1;
  unit = 0;
  // Keys a failed decode added but tape.rs never committed are dropped, and indices agree again.
  keys.length = tapeWords[0];
  return value();
}

export { decodeTape };
