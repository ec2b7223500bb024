//! The `#[wasm_bindgen]` exports: JS values to JSON text, the host-tested glue, and serde_json's
//! text back to JS values with `JSON.parse`. Nothing here decides anything that a host test could
//! check instead.

use convq_core::{Envelope, ErrorBody, Options};
use js_sys::{Function, JSON, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{AdapterError, js_error_properties, web_api_message};
use crate::glue;
use crate::pager::{ENTITY_LOGICAL_NAME, Pager, Step};

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
    let run = || -> Result<String, ErrorBody> {
        let input = input_text(&input)?;
        let options = compile_options(&options)?;
        glue::compile_to_json(&input, &options)
    };
    run()
        .map(|json| parse(&json))
        .map_err(|body| js_error(&body))
}

/// serde_json's text as a JS value. The text is serde_json's output, so `JSON.parse` cannot fail.
fn parse(json: &str) -> JsValue {
    JSON::parse(json).unwrap_or(JsValue::NULL)
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
    parse(&json)
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
    if let Some(text) = input.as_string() {
        return Ok(text);
    }
    match stringify(input) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(AdapterError::InvalidInput {
            reason: format!("it is {}", type_of(input)),
        }),
        Err(reason) => Err(AdapterError::InvalidInput {
            reason: format!("JSON.stringify failed: {reason}"),
        }),
    }
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
    match JSON::stringify(value) {
        Ok(text) => Ok(text.as_string()),
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

/// `createOmnichannel`'s argument, as TypeScript sees it.
#[cfg(feature = "testing")]
#[wasm_bindgen(typescript_custom_section)]
const TESTING_TYPES: &str = r#"
/**
 * The argument of `createOmnichannel`: the records, "now", the run options of `convq get`
 * (`timeZone`, `formattedValues`) and the compile options (`createdBeforeDays`, ...).
 */
export interface OmnichannelOptions extends Options {
  /**
   * The conversations (Web API property names): an array of records, a Web API response body
   * `{ value: [...] }`, or either as JSON text (NDJSON too).
   */
  records: Record<string, unknown>[] | { value: Record<string, unknown>[] } | string;
  /** "Now" for `createdBeforeDays`: a Date, milliseconds since 1970 or RFC 3339 text; the clock by default. */
  now?: Date | number | string;
  /**
   * The IANA time zone whose midnights bound `createdBeforeDays` days ("Europe/Paris"), as
   * Dataverse uses the user's time zone; "UTC" by default.
   */
  timeZone?: string;
  /**
   * Answer each selected property's formatted value too
   * (`<property>@OData.Community.Display.V1.FormattedValue`, when the record carries one), as
   * Dataverse does when asked; `false` by default.
   */
  formattedValues?: boolean;
}
"#;

/// A stand-in for `Microsoft.Omnichannel` whose `getConversations` answers from the given records
/// with the embedded store (the one `convq get` uses): same envelope, same errors. For unit tests
/// of web resources and PCF controls, e.g. `globalThis.Microsoft = { Omnichannel:
/// createOmnichannel({ records, now }) }`. Throws a `ConvqError` for records the store cannot load
/// or an invalid option.
#[cfg(feature = "testing")]
#[wasm_bindgen(js_name = createOmnichannel)]
pub fn create_omnichannel(
    #[wasm_bindgen(unchecked_param_type = "OmnichannelOptions")] options: JsValue,
) -> Result<Omnichannel, JsValue> {
    omnichannel(&options)
        .map(|inner| Omnichannel { inner })
        .map_err(|body| js_error(&body))
}

/// `createOmnichannel`'s own keys; every other key is a compile option (`convq_core::Options`).
#[cfg(feature = "testing")]
const DOUBLE_KEYS: [&str; 4] = ["records", "now", "timeZone", "formattedValues"];

#[cfg(feature = "testing")]
fn omnichannel(options: &JsValue) -> Result<crate::double::Omnichannel, ErrorBody> {
    use crate::double;
    let invalid = |path: &str, message: String| AdapterError::InvalidOptions {
        path: path.to_owned(),
        message,
    };
    if !options.is_object() {
        return Err(invalid(
            "",
            format!("expected an object, found {}", type_of(options)),
        )
        .into());
    }
    let get =
        |key: &str| Reflect::get(options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    let records = get("records");
    if records.is_undefined() || records.is_null() {
        return Err(invalid("/records", "missing field `records`".to_owned()).into());
    }
    let records = input_text(&records).map_err(|error| invalid("/records", error.to_string()))?;
    let now = get("now");
    let now = if now.is_undefined() {
        double::now_from_millis(js_sys::Date::now())
    } else if let Some(text) = now.as_string() {
        double::now_from_text(&text)
    } else if let Some(millis) = now.as_f64() {
        double::now_from_millis(millis)
    } else if now.is_instance_of::<js_sys::Date>() {
        double::now_from_millis(now.unchecked_ref::<js_sys::Date>().get_time())
    } else {
        Err(invalid(
            "/now",
            format!(
                "expected a Date, a number or RFC 3339 text, found {}",
                type_of(&now)
            ),
        ))
    }?;
    let mut settings = double::Settings::default();
    let zone = get("timeZone");
    settings.time_zone = match zone.as_string() {
        Some(zone) => Some(zone),
        None if zone.is_undefined() => None,
        None => {
            return Err(invalid(
                "/timeZone",
                format!(
                    "expected an IANA time zone name such as \"Europe/Paris\", found {}",
                    type_of(&zone)
                ),
            )
            .into());
        }
    };
    let formatted = get("formattedValues");
    settings.formatted_values = match formatted.as_bool() {
        Some(formatted) => formatted,
        None if formatted.is_undefined() => false,
        None => {
            return Err(invalid(
                "/formattedValues",
                format!("expected a boolean, found {}", type_of(&formatted)),
            )
            .into());
        }
    };
    settings.options = compile_options(&without_keys(options, &DOUBLE_KEYS))?;
    double::Omnichannel::new(&records, now, settings)
}

/// A plain object with the own enumerable properties of `object` except `keys`: what remains of
/// `createOmnichannel`'s argument for the compile options' parser, which names unknown keys.
#[cfg(feature = "testing")]
fn without_keys(object: &JsValue, keys: &[&str]) -> JsValue {
    let rest = js_sys::Object::new();
    let object_ref: &js_sys::Object = object.unchecked_ref();
    for key in js_sys::Object::keys(object_ref).iter() {
        if key
            .as_string()
            .is_some_and(|key| keys.contains(&key.as_str()))
        {
            continue;
        }
        let value = Reflect::get(object, &key).unwrap_or(JsValue::UNDEFINED);
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&rest, &key, &value);
    }
    rest.into()
}

/// What `createOmnichannel` returns.
#[cfg(feature = "testing")]
#[wasm_bindgen]
pub struct Omnichannel {
    inner: crate::double::Omnichannel,
}

#[cfg(feature = "testing")]
#[wasm_bindgen]
impl Omnichannel {
    /// `Microsoft.Omnichannel.getConversations(input, correlationId)`, answered from the records:
    /// resolves with `{result: {values}, status: true}` or `{error, status: false}`.
    #[wasm_bindgen(js_name = getConversations, unchecked_return_type = "Promise<Envelope>")]
    pub fn get_conversations(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Input | string")] input: JsValue,
        #[wasm_bindgen(js_name = correlationId, unchecked_optional_param_type = "string | null")]
        correlation_id: JsValue,
    ) -> Promise {
        let json = match input_text(&input) {
            Ok(input) => self
                .inner
                .get_conversations(&input, correlation_id.as_string()),
            Err(error) => glue::failure_json(error.into()),
        };
        Promise::resolve(&parse(&json))
    }

    /// `retrieveMultipleRecords` for `convq/testing`'s `Xrm.WebApi`: the options string read by
    /// the core and run on the same store, as the JSON text
    /// `{"skipToken": ..., "answer": <envelope>}`. Throws a `ConvqError`
    /// (`unsupported_options`) for an options string convq does not render.
    #[wasm_bindgen(js_name = retrieveMultiple)]
    pub fn retrieve_multiple(&self, options: &str) -> Result<String, JsValue> {
        self.inner
            .retrieve_multiple(options)
            .map_err(|message| js_error(&ErrorBody::new("unsupported_options", message, "", None)))
    }

    /// What loading the records noticed, as JSON text: `[{code, path, message}]`.
    #[wasm_bindgen(js_name = loadWarnings)]
    pub fn load_warnings(&self) -> String {
        self.inner.load_warnings()
    }
}
