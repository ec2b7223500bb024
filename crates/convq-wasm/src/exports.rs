//! The `#[wasm_bindgen]` exports: JS values to JSON text, the host-tested glue, and the result
//! back to JS values (through the tape for `compile`, JSON text for `getConversations`). Nothing
//! here decides anything that a host test could check instead.

use std::borrow::Cow;
use std::cell::Cell;

use convq_core::{Envelope, ErrorBody, Options, limits};
use js_sys::{Function, JSON, JsString, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{AdapterError, js_error_properties, web_api_message};
use crate::glue;
use crate::pager::{ENTITY_LOGICAL_NAME, Pager, Step};
use crate::tape::{self, Keys, Tape};

// The data types (`Input`, `Options`, `Compiled`, `Envelope`, `ErrorBody`, ...), generated from
// the Rust types by `cargo xtask codegen`, become part of the package's `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const DATA_TYPES: &str = include_str!("../convq-types.d.ts");

#[wasm_bindgen(typescript_custom_section)]
const FUNCTION_TYPES: &str = r#"
/** `Xrm.WebApi.retrieveMultipleRecords` (or PCF `context.webAPI.retrieveMultipleRecords`, bound). */
export type RetrieveMultipleRecords = (
  entityLogicalName: string,
  options: string,
) => Promise<{ entities: Record<string, unknown>[]; nextLink?: string }>;

/** The third argument of `getConversations`: compile options, plus the function to run the query with. */
export type GetConversationsOptions = Options & {
  /** Defaults to `globalThis.Xrm.WebApi.retrieveMultipleRecords`. */
  retrieveMultipleRecords?: RetrieveMultipleRecords;
};

/** What `compile` throws: a JS `Error` carrying the error body's fields. */
export interface ConvqError extends Error {
  name: "ConvqError";
  code: string;
  path: string;
  hint?: string;
}
"#;

#[wasm_bindgen(module = "/js/tape.js")]
extern "C" {
    /// The JS value on a tape (`js/tape.js`). Not `catch`: it only throws on a bug or when out of
    /// memory, and such an exception may as well reach `compile`'s caller as it is (`to_js` says
    /// what it leaves behind).
    #[wasm_bindgen(js_name = decodeTape)]
    fn decode_tape(text: &str, words: &[u32]) -> JsValue;
}

#[wasm_bindgen(module = "/js/text.js")]
extern "C" {
    /// Writes the string into `into` as UTF-8 (`TextEncoder.encodeInto`); returns the bytes
    /// written.
    #[wasm_bindgen(js_name = encodeUtf8)]
    fn encode_utf8(text: &JsString, into: &mut [u8]) -> u32;
}

thread_local! {
    /// The keys `js/tape.js` holds, and the tape's buffers, reused from call to call.
    static TAPE: Cell<(Keys, Tape)> = Cell::default();
    /// The input's UTF-8, reused from call to call (at most three bytes per unit of the largest
    /// input within the core's limit).
    static INPUT: Cell<Vec<u8>> = Cell::default();
}

#[wasm_bindgen]
extern "C" {
    /// `String(value)`, for thrown values that are not `Error`s.
    #[wasm_bindgen(js_name = String, catch)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;
}

/// Compiles getConversations input into the Dataverse Web API query.
///
/// `input` is the input object, or its JSON text. Returns the options string for
/// `Xrm.WebApi.retrieveMultipleRecords`, the request path (and URL with `baseUrl`), FetchXML,
/// the normalized AST and warnings. Throws a `ConvqError` (`code`, `path`, `message`, `hint`)
/// for invalid input or options.
#[wasm_bindgen(unchecked_return_type = "Compiled")]
pub fn compile(
    #[wasm_bindgen(unchecked_param_type = "Input | string")] input: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Options | string | null")] options: JsValue,
) -> Result<JsValue, JsValue> {
    let mut buffer = INPUT.take();
    let mut run = || -> Result<convq_core::Compiled, ErrorBody> {
        let input = utf8(&input_json(&input)?, &mut buffer);
        let options = compile_options(&options)?;
        glue::compile(&input, &options)
    };
    let result = run();
    INPUT.set(buffer);
    match result {
        Ok(compiled) => to_js(&compiled),
        Err(body) => Err(js_error(&body)),
    }
}

/// `value` as the JS value that `JSON.parse` makes of its serde_json text, through the tape.
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    // Taken out while JS runs: a JS exception passes through without running any Rust after the
    // call, which leaves the default state behind (new keys, which the JS side then resyncs to;
    // see `tape`) rather than, say, a `RefCell` borrowed for good.
    let (mut keys, mut tape) = TAPE.take();
    let result = tape::encode(value, &mut keys, &mut tape)
        .map(|()| decode_tape(&tape.text, &tape.words))
        .map_err(|e| js_sys::Error::new(&e.to_string()).into());
    TAPE.set((keys, tape));
    result
}

/// Mirrors `Microsoft.Omnichannel.getConversations(input, correlationId)`: compiles the input,
/// runs it through `retrieveMultipleRecords("msdyn_ocliveworkitem", options)` following
/// `nextLink` up to `top` rows, and resolves with `{result: {values}, status: true}` or
/// `{error, status: false}`. Never rejects.
///
/// `correlationId` is accepted for parity with the Omnichannel API; like the CLI's
/// `--correlation-id`, it does not change the query.
// An async export returns a Promise; the declared type is what it resolves with.
#[wasm_bindgen(js_name = getConversations, unchecked_return_type = "Envelope")]
pub async fn get_conversations(
    #[wasm_bindgen(unchecked_param_type = "Input | string")] input: JsValue,
    #[wasm_bindgen(js_name = correlationId, unchecked_optional_param_type = "string | null")]
    _correlation_id: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "GetConversationsOptions | null")]
    options: JsValue,
) -> JsValue {
    let json = match run_query(&input, &options).await {
        Ok(envelope) => glue::envelope_json(&envelope),
        Err(body) => glue::failure_json(body),
    };
    // The text is serde_json's output, so JSON.parse cannot fail; null would be the only answer.
    JSON::parse(&json).unwrap_or(JsValue::NULL)
}

async fn run_query(input: &JsValue, settings: &JsValue) -> Result<Envelope, ErrorBody> {
    let input = input_text(input)?;
    let (options, given) = query_settings(settings)?;
    let compiled = glue::compile(&input, &options)?;
    let (function, this) = match given {
        Some(function) => (function, JsValue::UNDEFINED),
        None => xrm_web_api().ok_or(AdapterError::NoWebApi)?,
    };
    let (mut pager, mut step) = Pager::start(&compiled);
    loop {
        match step {
            Step::Done(envelope) => return Ok(envelope),
            Step::Fetch(query) => {
                let page = call(&function, &this, &query).await?;
                let text =
                    stringify(&page).map_err(|reason| AdapterError::InvalidWebApiResponse {
                        reason: format!("JSON.stringify failed: {reason}"),
                    })?;
                step = pager.accept(text.as_deref())?;
            }
        }
    }
}

/// Calls `retrieveMultipleRecords(logicalName, options)` and awaits it; a synchronous throw and
/// a rejection are the same failure.
async fn call(function: &Function, this: &JsValue, options: &str) -> Result<JsValue, AdapterError> {
    let returned = function
        .call2(
            this,
            &JsValue::from_str(ENTITY_LOGICAL_NAME),
            &JsValue::from_str(options),
        )
        .map_err(web_api_error)?;
    JsFuture::from(Promise::resolve(&returned))
        .await
        .map_err(web_api_error)
}

/// Xrm rejects with `{errorCode, message}`, a plain function may throw anything.
fn web_api_error(thrown: JsValue) -> AdapterError {
    let property = |name: &str| {
        if thrown.is_object() {
            Reflect::get(&thrown, &JsValue::from_str(name)).ok()
        } else {
            None
        }
    };
    let message = property("message").and_then(|m| m.as_string());
    let error_code = property("errorCode").and_then(|c| c.as_f64());
    let text = web_api_message(message, error_code, || {
        js_string(&thrown).unwrap_or_else(|_| "a value that cannot be shown".to_owned())
    });
    AdapterError::WebApi { message: text }
}

/// `globalThis.Xrm.WebApi.retrieveMultipleRecords`, with `Xrm.WebApi` as `this`.
fn xrm_web_api() -> Option<(Function, JsValue)> {
    let get = |target: &JsValue, key: &str| {
        Reflect::get(target, &JsValue::from_str(key))
            .ok()
            .filter(JsValue::is_object)
    };
    let xrm = get(&js_sys::global().into(), "Xrm")?;
    let web_api = get(&xrm, "WebApi")?;
    let function = Reflect::get(&web_api, &JsValue::from_str("retrieveMultipleRecords")).ok()?;
    function
        .dyn_into::<Function>()
        .ok()
        .map(|function| (function, web_api))
}

/// The input as JSON text: a string is taken as JSON text, anything else goes through
/// `JSON.stringify`.
fn input_text(input: &JsValue) -> Result<String, AdapterError> {
    input_json(input).map(|text| String::from(&text))
}

/// [`input_text`] still as a JS string.
fn input_json(input: &JsValue) -> Result<JsString, AdapterError> {
    if input.is_string() {
        return Ok(input.clone().unchecked_into());
    }
    match stringify_js(input) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(AdapterError::InvalidInput {
            reason: format!("it is {}", type_of(input)),
        }),
        Err(reason) => Err(AdapterError::InvalidInput {
            reason: format!("JSON.stringify failed: {reason}"),
        }),
    }
}

/// A JS string as UTF-8 in `buffer`, written by `TextEncoder.encodeInto` in one call, where
/// wasm-bindgen's `String` conversion copies a character at a time (0.33 against 0.20 µs for the
/// golden input, measured in Node). A string of more UTF-16 units than the core's input limit has
/// more bytes too: it takes wasm-bindgen's conversion, so that the buffer never grows past three
/// times the limit, and the core then rejects it with its size.
fn utf8<'b>(text: &JsString, buffer: &'b mut Vec<u8>) -> Cow<'b, str> {
    let units = text.length() as usize;
    if units > limits::MAX_INPUT_BYTES {
        return Cow::Owned(String::from(text));
    }
    // UTF-8 takes at most three bytes per UTF-16 unit.
    let most = units * 3;
    if buffer.len() < most {
        buffer.resize(most, 0);
    }
    let written = encode_utf8(text, &mut buffer[..most]) as usize;
    // encodeInto writes well-formed UTF-8 (a lone surrogate becomes U+FFFD, as in
    // wasm-bindgen's conversion), so this borrows; it would replace, never panic.
    String::from_utf8_lossy(&buffer[..written])
}

/// `compile`'s options: `undefined`/`null` for the defaults, an object, or its JSON text.
fn compile_options(options: &JsValue) -> Result<Options, AdapterError> {
    if options.is_undefined() || options.is_null() {
        return glue::parse_options(None);
    }
    if let Some(text) = options.as_string() {
        return glue::parse_options(Some(&text));
    }
    let text = stringify(options).map_err(|reason| AdapterError::InvalidOptions {
        path: String::new(),
        message: format!("JSON.stringify failed: {reason}"),
    })?;
    // A function or symbol stringifies to undefined; parse "null" so the error says what it is.
    glue::parse_options(Some(text.as_deref().unwrap_or("null")))
}

/// `getConversations`' third argument: compile options plus `retrieveMultipleRecords`.
fn query_settings(settings: &JsValue) -> Result<(Options, Option<Function>), AdapterError> {
    if settings.is_undefined() || settings.is_null() {
        return Ok((Options::default(), None));
    }
    if !settings.is_object() {
        return Err(AdapterError::InvalidOptions {
            path: String::new(),
            message: format!("expected an object, found {}", type_of(settings)),
        });
    }
    let given = Reflect::get(settings, &JsValue::from_str("retrieveMultipleRecords"))
        .unwrap_or(JsValue::UNDEFINED);
    let function = if given.is_undefined() || given.is_null() {
        None
    } else {
        Some(
            given
                .dyn_into::<Function>()
                .map_err(|other| AdapterError::InvalidOptions {
                    path: "/retrieveMultipleRecords".to_owned(),
                    message: format!("expected a function, found {}", type_of(&other)),
                })?,
        )
    };
    // JSON.stringify leaves function-valued properties out, so what remains are compile options.
    Ok((compile_options(settings)?, function))
}

/// `JSON.stringify(value)`: `Ok(None)` for values it skips (undefined, functions, symbols),
/// `Err` with the message of what it threw (cycles, BigInt).
fn stringify(value: &JsValue) -> Result<Option<String>, String> {
    stringify_js(value).map(|text| text.map(|text| String::from(&text)))
}

/// [`stringify`] still as a JS string.
fn stringify_js(value: &JsValue) -> Result<Option<JsString>, String> {
    match JSON::stringify(value) {
        Ok(text) => Ok(text.is_string().then_some(text)),
        Err(thrown) => Err(Reflect::get(&thrown, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "it threw".to_owned())),
    }
}

fn type_of(value: &JsValue) -> String {
    if value.is_null() {
        "null".to_owned()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// A JS `Error` with the body's message and its `name`, `code`, `path` and `hint` properties.
fn js_error(body: &ErrorBody) -> JsValue {
    let error = js_sys::Error::new(&body.message);
    for (name, value) in js_error_properties(body) {
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&error, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    error.into()
}
