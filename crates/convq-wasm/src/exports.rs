//! The `#[wasm_bindgen]` exports: JS values to JSON text, the host-tested glue, and serde_json's
//! text back to JS values with `JSON.parse`. Nothing here decides anything that a host test could
//! check instead.

use std::cell::RefCell;
use std::rc::Rc;

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
/// `createOmnichannel`'s or `watchConversations`' argument for the compile options' parser,
/// which names unknown keys.
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

// ---- watchConversations: live lists over Server-Sent Events -----------------------------------

#[wasm_bindgen(typescript_custom_section)]
const WATCH_TYPES: &str = r#"
/**
 * One event of a live list, as `convq get --watch` prints it: `id` (`<epoch>-<seq>`) on all but
 * `failed` and `dropped`. `position` is the record's 0-based index in the new list.
 */
export type WatchEvent =
  | { event: "snapshot"; id: string; data: { agentId: string; values: Conversation[] } }
  | { event: "added" | "changed"; id: string; data: { agentId: string; id: string; position: number; record: Conversation } }
  | { event: "removed"; id: string; data: { agentId: string; id: string } }
  | { event: "failed"; data: { agentId: string; error: ErrorBody } }
  | { event: "dropped"; data: { reason: string } };

/** The part of the `EventSource` interface `watchConversations` uses (a browser's, or a polyfill). */
export type EventSourceConstructor = new (url: string) => {
  addEventListener(type: string, listener: (event: { data?: unknown; lastEventId?: string }) => void): void;
  close(): void;
  readonly readyState?: number;
};

/** What `onError` gets: the service's failure envelope when it refused the stream, else an `Error`. */
export type WatchError = { error: ErrorBody; status: false; httpStatus: number } | Error;

/** The third argument of `watchConversations`: handlers, transport, and compile options (for the local check). */
export type WatchOptions = Options & {
  /** Every event, in the order the service sent them. */
  onEvent?: (event: WatchEvent) => void;
  /** An agent's whole current list, after each event that changed it (events applied by `position`). */
  onList?: (agentId: string, values: Conversation[], event: WatchEvent) => void;
  /** The stream is open (again, after a reconnect). */
  onOpen?: () => void;
  /** The stream failed; it reconnects unless the service refused it (4xx other than 408 and 429). */
  onError?: (error: WatchError) => void;
  /** The `EventSource` to use; by default `globalThis.EventSource`, else `fetch`. */
  EventSource?: EventSourceConstructor;
  /** Request headers (`x-api-key`, `Authorization`): the stream is then read with `fetch`, as `EventSource` sends none. */
  headers?: Record<string, string>;
  /** With `fetch`: milliseconds before reconnecting (3000; a `retry:` from the service wins). */
  retry?: number;
};
"#;

/// `watchConversations`' own keys; every other key is a compile option.
const WATCH_KEYS: [&str; 7] = [
    "onEvent",
    "onList",
    "onOpen",
    "onError",
    "EventSource",
    "headers",
    "retry",
];

/// Milliseconds before the `fetch` transport reconnects, unless the options or the service say.
const DEFAULT_RETRY_MS: f64 = 3000.0;

/// Subscribes to `GET <serviceUrl>/getConversations/stream?input=<input>` (Server-Sent Events)
/// and calls the handlers with each event and each agent's current list. The input is compiled
/// here first: an input (or option) that does not compile throws the failure envelope
/// `{error: {code, message, path, hint}, status: false}` and nothing is requested. Reads the
/// stream with `EventSource` (the option, else the global one; it resumes with `Last-Event-ID`
/// by itself) or, with `headers` or where there is none (Node 20), with `fetch`, reconnecting
/// with `Last-Event-ID` after `retry` ms. Returns the subscription; `close()` ends it.
#[wasm_bindgen(js_name = watchConversations)]
pub fn watch_conversations(
    #[wasm_bindgen(js_name = serviceUrl)] service_url: &str,
    #[wasm_bindgen(unchecked_param_type = "Input | string")] input: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "WatchOptions | null")] options: JsValue,
) -> Result<Watch, JsValue> {
    let settings =
        watch_settings(&input, &options).map_err(|body| parse(&glue::failure_json(body)))?;
    let url = crate::live::stream_url(service_url, &settings.input);
    let core = Rc::new(RefCell::new(Core {
        lists: crate::live::Lists::default(),
        last_event_id: String::new(),
        handlers: settings.handlers,
        closed: false,
        source: None,
        listeners: Vec::new(),
        abort: None,
        wake: None,
    }));
    let transport = match settings.transport {
        Transport::EventSource(constructor) => {
            open_event_source(&core, &constructor, &url)?;
            "EventSource"
        }
        Transport::Fetch { fetch, headers } => {
            wasm_bindgen_futures::spawn_local(read_with_fetch(
                Rc::clone(&core),
                fetch,
                url,
                headers,
                settings.retry,
            ));
            "fetch"
        }
    };
    Ok(Watch { core, transport })
}

/// A live-list subscription.
#[wasm_bindgen]
pub struct Watch {
    core: Rc<RefCell<Core>>,
    transport: &'static str,
}

#[wasm_bindgen]
impl Watch {
    /// Ends the subscription: no handler is called after it.
    pub fn close(&self) {
        let (source, abort, wake, listeners) = {
            let mut core = self.core.borrow_mut();
            if core.closed && core.source.is_none() && core.abort.is_none() && core.wake.is_none() {
                return;
            }
            core.closed = true;
            (
                core.source.take(),
                core.abort.take(),
                core.wake.take(),
                std::mem::take(&mut core.listeners),
            )
        };
        if let Some(source) = source {
            let _ = call_method(&source, "close", &[]);
        }
        if let Some(controller) = abort {
            let _ = call_method(&controller, "abort", &[]);
        }
        if let Some((timer, resolve)) = wake {
            let _ = call_method(&js_sys::global().into(), "clearTimeout", &[timer]);
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
        // close() may run inside one of these listeners: drop them after it returns.
        wasm_bindgen_futures::spawn_local(async move { drop(listeners) });
    }

    /// An agent's current list (empty before its snapshot).
    #[wasm_bindgen(unchecked_return_type = "Conversation[]")]
    pub fn list(&self, #[wasm_bindgen(js_name = agentId)] agent_id: &str) -> JsValue {
        to_js(&self.core.borrow().lists.list(agent_id))
    }

    /// The id of the last event received (`""` before the first): where a reconnect resumes.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> String {
        self.core.borrow().last_event_id.clone()
    }

    /// How the stream is read: `"EventSource"` or `"fetch"`.
    #[wasm_bindgen(getter, unchecked_return_type = "\"EventSource\" | \"fetch\"")]
    pub fn transport(&self) -> String {
        self.transport.to_owned()
    }
}

struct Core {
    lists: crate::live::Lists,
    last_event_id: String,
    handlers: Handlers,
    closed: bool,
    /// The `EventSource`, while open.
    source: Option<JsValue>,
    listeners: Vec<Closure<dyn FnMut(JsValue)>>,
    /// The `AbortController` of the current `fetch`.
    abort: Option<JsValue>,
    /// The timer before the next `fetch` and its promise's `resolve`.
    wake: Option<(JsValue, Function)>,
}

#[derive(Clone, Default)]
struct Handlers {
    on_event: Option<Function>,
    on_list: Option<Function>,
    on_open: Option<Function>,
    on_error: Option<Function>,
}

enum Transport {
    EventSource(Function),
    Fetch { fetch: Function, headers: Headers },
}

struct WatchSettings {
    input: String,
    handlers: Handlers,
    transport: Transport,
    retry: f64,
}

fn watch_settings(input: &JsValue, options: &JsValue) -> Result<WatchSettings, ErrorBody> {
    let invalid = |path: &str, message: String| -> ErrorBody {
        AdapterError::InvalidOptions {
            path: path.to_owned(),
            message,
        }
        .into()
    };
    let options = if options.is_undefined() || options.is_null() {
        js_sys::Object::new().into()
    } else if options.is_object() {
        options.clone()
    } else {
        return Err(invalid(
            "",
            format!("expected an object, found {}", type_of(options)),
        ));
    };
    let get =
        |key: &str| Reflect::get(&options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    let function = |key: &str| -> Result<Option<Function>, ErrorBody> {
        let value = get(key);
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        value.dyn_into::<Function>().map(Some).map_err(|other| {
            invalid(
                &format!("/{key}"),
                format!("expected a function, found {}", type_of(&other)),
            )
        })
    };
    let handlers = Handlers {
        on_event: function("onEvent")?,
        on_list: function("onList")?,
        on_open: function("onOpen")?,
        on_error: function("onError")?,
    };
    let headers =
        header_pairs(&get("headers")).map_err(|(path, message)| invalid(&path, message))?;
    let retry = get("retry");
    let retry = match retry.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => ms,
        None if retry.is_undefined() => DEFAULT_RETRY_MS,
        _ => {
            return Err(invalid(
                "/retry",
                "expected milliseconds (a number, 0 or more)".to_owned(),
            ));
        }
    };
    let compile_options = compile_options(&without_keys(&options, &WATCH_KEYS))?;
    let input = input_text(input)?;
    glue::compile(&input, &compile_options)?;
    let global: JsValue = js_sys::global().into();
    let global_function = |name: &str| {
        Reflect::get(&global, &JsValue::from_str(name))
            .ok()
            .and_then(|value| value.dyn_into::<Function>().ok())
    };
    let transport = match (function("EventSource")?, headers) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "/headers",
                "EventSource sends no request headers: leave out EventSource to read the stream \
                 with fetch"
                    .to_owned(),
            ));
        }
        (Some(constructor), None) => Transport::EventSource(constructor),
        (None, None) if global_function("EventSource").is_some() => {
            Transport::EventSource(global_function("EventSource").unwrap_or_else(|| unreachable!()))
        }
        (None, headers) => Transport::Fetch {
            fetch: global_function("fetch").ok_or_else(|| {
                invalid(
                    "/EventSource",
                    "there is neither a global EventSource nor fetch: pass an EventSource \
                     constructor"
                        .to_owned(),
                )
            })?,
            headers: headers.unwrap_or_default(),
        },
    };
    Ok(WatchSettings {
        input,
        handlers,
        transport,
        retry,
    })
}

/// The `headers` option as name-value pairs; `None` when absent.
/// Request headers as name-value pairs.
type Headers = Vec<(String, String)>;

fn header_pairs(headers: &JsValue) -> Result<Option<Headers>, (String, String)> {
    if headers.is_undefined() || headers.is_null() {
        return Ok(None);
    }
    if !headers.is_object() {
        return Err((
            "/headers".to_owned(),
            format!("expected an object, found {}", type_of(headers)),
        ));
    }
    let mut pairs = Vec::new();
    let object: &js_sys::Object = headers.unchecked_ref();
    for key in js_sys::Object::keys(object).iter() {
        let name = key.as_string().unwrap_or_default();
        let value = Reflect::get(headers, &key).unwrap_or(JsValue::UNDEFINED);
        let Some(value) = value.as_string() else {
            return Err((
                format!("/headers/{name}"),
                format!("expected a string, found {}", type_of(&value)),
            ));
        };
        pairs.push((name, value));
    }
    Ok(Some(pairs))
}

/// A serde_json value as a JS value.
fn to_js<T: serde::Serialize + ?Sized>(value: &T) -> JsValue {
    serde_json::to_string(value).map_or(JsValue::NULL, |json| parse(&json))
}

fn call_method(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let function: Function = Reflect::get(target, &JsValue::from_str(name))?.dyn_into()?;
    function.apply(target, &args.iter().collect::<js_sys::Array>())
}

/// Calls a handler; what it throws is reported as an unhandled rejection (as a throwing event
/// listener is), so the stream goes on.
fn call_handler(handler: Option<&Function>, args: &[JsValue]) {
    if let Some(handler) = handler
        && let Err(thrown) = handler.apply(&JsValue::UNDEFINED, &args.iter().collect())
    {
        let _ = Promise::reject(&thrown);
    }
}

/// One event from the stream: kept in the lists, then handed to `onEvent` and `onList`.
fn deliver(core: &Rc<RefCell<Core>>, name: &str, data: &str, last_event_id: &str) {
    let (delivery, handlers) = {
        let mut core = core.borrow_mut();
        if core.closed {
            return;
        }
        let Some(delivery) = core.lists.receive(name, data, last_event_id) else {
            return;
        };
        last_event_id.clone_into(&mut core.last_event_id);
        (delivery, core.handlers.clone())
    };
    let event = to_js(&delivery.event);
    call_handler(handlers.on_event.as_ref(), std::slice::from_ref(&event));
    if let Some((agent, values)) = delivery.list
        && !core.borrow().closed
    {
        call_handler(
            handlers.on_list.as_ref(),
            &[JsValue::from_str(&agent), to_js(&values), event],
        );
    }
}

fn report_error(core: &Rc<RefCell<Core>>, error: &JsValue) {
    let handler = {
        let core = core.borrow();
        if core.closed {
            return;
        }
        core.handlers.on_error.clone()
    };
    call_handler(handler.as_ref(), std::slice::from_ref(error));
}

fn string_property(target: &JsValue, name: &str) -> String {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .and_then(|value| value.as_string())
        .unwrap_or_default()
}

/// `new EventSource(url)` with a listener per event name; it reconnects by itself.
fn open_event_source(
    core: &Rc<RefCell<Core>>,
    constructor: &Function,
    url: &str,
) -> Result<(), JsValue> {
    let source = Reflect::construct(constructor, &js_sys::Array::of1(&JsValue::from_str(url)))?;
    let mut listeners = Vec::new();
    for name in crate::live::EVENT_NAMES {
        let core = Rc::clone(core);
        listeners.push((
            name,
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let data = string_property(&event, "data");
                let id = string_property(&event, "lastEventId");
                deliver(&core, name, &data, &id);
            }),
        ));
    }
    let opened = Rc::clone(core);
    listeners.push((
        "open",
        Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            let handler = opened.borrow().handlers.on_open.clone();
            if !opened.borrow().closed {
                call_handler(handler.as_ref(), &[]);
            }
        }),
    ));
    let failed = Rc::clone(core);
    let watched = source.clone();
    listeners.push((
        "error",
        Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            // readyState 2 (CLOSED): the service refused the stream and EventSource gives up.
            let closed = Reflect::get(&watched, &JsValue::from_str("readyState"))
                .ok()
                .and_then(|state| state.as_f64())
                == Some(2.0);
            let message = if closed {
                "the event stream was refused and EventSource does not retry (an HTTP error such \
                 as 400, 401 or 429, or not text/event-stream; EventSource does not tell which)"
            } else {
                "the event stream was interrupted; EventSource reconnects with Last-Event-ID"
            };
            report_error(&failed, &js_sys::Error::new(message).into());
        }),
    ));
    let mut core = core.borrow_mut();
    for (name, listener) in listeners {
        call_method(
            &source,
            "addEventListener",
            &[JsValue::from_str(name), listener.as_ref().clone()],
        )?;
        core.listeners.push(listener);
    }
    core.source = Some(source);
    Ok(())
}

/// What one `fetch` of the stream ended with.
enum Ended {
    /// The connection ended or failed: reconnect.
    Reconnect,
    /// The service refused the subscription (4xx other than 408 and 429): stop.
    Refused,
}

/// Reads the stream with `fetch` until closed, reconnecting with `Last-Event-ID`.
async fn read_with_fetch(
    core: Rc<RefCell<Core>>,
    fetch: Function,
    url: String,
    headers: Headers,
    mut retry: f64,
) {
    loop {
        if core.borrow().closed {
            return;
        }
        match fetch_once(&core, &fetch, &url, &headers, &mut retry).await {
            Ok(Ended::Reconnect) => {}
            Ok(Ended::Refused) => {
                core.borrow_mut().closed = true;
                return;
            }
            Err(error) => report_error(&core, &error),
        }
        if core.borrow().closed {
            return;
        }
        sleep(&core, retry).await;
    }
}

async fn fetch_once(
    core: &Rc<RefCell<Core>>,
    fetch: &Function,
    url: &str,
    headers: &[(String, String)],
    retry: &mut f64,
) -> Result<Ended, JsValue> {
    let global: JsValue = js_sys::global().into();
    let request_headers = js_sys::Object::new();
    let set = |target: &JsValue, key: &str, value: &JsValue| {
        let _ = Reflect::set(target, &JsValue::from_str(key), value);
    };
    set(
        &request_headers,
        "accept",
        &JsValue::from_str("text/event-stream"),
    );
    for (name, value) in headers {
        set(&request_headers, name, &JsValue::from_str(value));
    }
    let last_event_id = core.borrow().last_event_id.clone();
    if !last_event_id.is_empty() {
        set(
            &request_headers,
            "last-event-id",
            &JsValue::from_str(&last_event_id),
        );
    }
    let init = js_sys::Object::new();
    set(&init, "headers", &request_headers);
    let controller = Reflect::get(&global, &JsValue::from_str("AbortController"))
        .ok()
        .and_then(|c| c.dyn_into::<Function>().ok())
        .and_then(|c| Reflect::construct(&c, &js_sys::Array::new()).ok());
    if let Some(controller) = &controller {
        set(
            &init,
            "signal",
            &Reflect::get(controller, &JsValue::from_str("signal"))?,
        );
    }
    core.borrow_mut().abort.clone_from(&controller);
    let response = JsFuture::from(Promise::resolve(&fetch.call2(
        &global,
        &JsValue::from_str(url),
        &init,
    )?))
    .await?;
    let status = Reflect::get(&response, &JsValue::from_str("status"))?
        .as_f64()
        .unwrap_or(0.0);
    if status != 200.0 {
        let text = JsFuture::from(Promise::resolve(&call_method(&response, "text", &[])?))
            .await
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_default();
        report_error(core, &refusal(status, &text));
        let retried = status == 408.0 || status == 429.0 || status >= 500.0;
        return Ok(if retried {
            Ended::Reconnect
        } else {
            Ended::Refused
        });
    }
    {
        let handler = core.borrow().handlers.on_open.clone();
        call_handler(handler.as_ref(), &[]);
    }
    let body = Reflect::get(&response, &JsValue::from_str("body"))?;
    let reader = call_method(&body, "getReader", &[])?;
    let text_decoder: Function =
        Reflect::get(&global, &JsValue::from_str("TextDecoder"))?.dyn_into()?;
    let decoder = Reflect::construct(&text_decoder, &js_sys::Array::new())?;
    let streaming = js_sys::Object::new();
    set(&streaming, "stream", &JsValue::TRUE);
    let mut parser = crate::live::SseParser::new(&last_event_id);
    loop {
        let Ok(chunk) = JsFuture::from(Promise::resolve(&call_method(&reader, "read", &[])?)).await
        else {
            // Aborted by close(), or the connection broke.
            return Ok(Ended::Reconnect);
        };
        if Reflect::get(&chunk, &JsValue::from_str("done"))?.is_truthy() {
            return Ok(Ended::Reconnect);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value"))?;
        let text = call_method(&decoder, "decode", &[value, streaming.clone().into()])?
            .as_string()
            .unwrap_or_default();
        for event in parser.feed(&text) {
            deliver(core, &event.name, &event.data, &event.last_event_id);
        }
        if let Some(ms) = parser.retry() {
            *retry = f64::from(ms);
        }
        if core.borrow().closed {
            let _ = call_method(&reader, "cancel", &[]);
            return Ok(Ended::Reconnect);
        }
    }
}

/// What `onError` gets for a non-200 answer: the service's failure envelope with `httpStatus`,
/// or an `Error` when the body is not one.
fn refusal(status: f64, body: &str) -> JsValue {
    let envelope = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .filter(|value| value.get("error").is_some_and(serde_json::Value::is_object));
    match envelope {
        Some(mut envelope) => {
            envelope["status"] = serde_json::Value::Bool(false);
            envelope["httpStatus"] = serde_json::json!(status);
            to_js(&envelope)
        }
        None => js_sys::Error::new(&format!("the service answered HTTP {status}: {body}")).into(),
    }
}

/// Waits `ms` milliseconds, or until `close()`.
async fn sleep(core: &Rc<RefCell<Core>>, ms: f64) {
    let global: JsValue = js_sys::global().into();
    let promise = Promise::new(&mut |resolve: Function, _reject: Function| {
        if let Ok(timer) = call_method(
            &global,
            "setTimeout",
            &[resolve.clone().into(), JsValue::from_f64(ms)],
        ) {
            core.borrow_mut().wake = Some((timer, resolve));
        } else {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
    core.borrow_mut().wake = None;
}

/// One live list of `convq/testing`'s `watchConversations`: the server's feed over the double's
/// answers (`double::LiveList`).
#[cfg(feature = "testing")]
#[wasm_bindgen]
pub struct LiveList {
    inner: crate::double::LiveList,
}

#[cfg(feature = "testing")]
#[wasm_bindgen]
impl LiveList {
    /// `agentId`'s list; `epoch` is the first part of its event ids.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(js_name = agentId)] agent_id: &str, epoch: u32) -> Self {
        Self {
            inner: crate::double::LiveList::new(agent_id, u64::from(epoch)),
        }
    }

    /// Takes an answer (the envelope's JSON text); the events as JSON text
    /// `[{"event", "id", "data"}]`.
    pub fn apply(&mut self, envelope: &str) -> String {
        self.inner.apply(envelope)
    }
}
