//! How to compile: everything that is not part of the getConversations input.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::ColumnType;
use crate::error::{Error, pointer_index, pointer_key};

/// Options for [`compile`](crate::compile). `Options::default()` is what the CLI uses without flags.
///
/// Deserializes from camelCase JSON (`{"baseUrl": "...", "unknownColumns": "error"}`), so every
/// adapter takes options as data without declaring its own options type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
#[derive(derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct Options {
    /// Organization URL, e.g. `https://contoso.crm.dynamics.com`. When set, `Compiled::url` is
    /// the full request URL.
    #[setters(strip_option, into)]
    pub base_url: Option<String>,
    /// What to do with a column the catalog does not know.
    pub unknown_columns: UnknownColumns,
    /// Custom columns of your organization, with their types (a declared lookup is selected as
    /// `_<name>_value`). Declared columns never warn.
    #[setters(skip)]
    pub extra_columns: Vec<ExtraColumn>,
    /// How to render a `status` filter with several values.
    pub status_filter: StatusFilter,
    /// What `createdBeforeDays: N` means: created within the last N days (the default) or
    /// more than N days ago. The getConversations documentation says only "the number of days
    /// since the conversation was created".
    pub created_before_days: DaysReading,
}

impl Options {
    /// Declares a custom column.
    #[must_use]
    pub fn with_extra_column(
        mut self,
        logical_name: impl Into<String>,
        column_type: ColumnType,
    ) -> Self {
        self.extra_columns.push(ExtraColumn {
            logical_name: logical_name.into(),
            column_type,
        });
        self
    }
}

impl Options {
    /// Reads options from their JSON text (`{"baseUrl": "...", "unknownColumns": "error"}`), the
    /// one way every adapter takes them (`--options`, the HTTP service, JavaScript), so the same
    /// text gets the same answer everywhere. (The base URL is checked by `compile`, whose
    /// `invalid_base_url` names it.)
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] with the JSON pointer of the offending value in the options: the
    /// text is not JSON, not an object, has an unknown key, a value of the wrong type, or a base
    /// URL that is not an organization URL.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let invalid = |path: String, message: String| Error::InvalidOptions { path, message };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(String::new(), crate::json_error_message(&e)))?;
        // serde's derived structs also accept arrays (fields by position); options are an object.
        if !value.is_object() {
            let found = crate::json_type_name(&value);
            return Err(invalid(
                String::new(),
                format!("expected an object, found {found}"),
            ));
        }
        let options: Self = serde_path_to_error::deserialize(value)
            .map_err(|e| invalid(pointer(e.path()), crate::json_error_message(e.inner())))?;
        Ok(options)
    }
}

/// serde_path_to_error's path (`extraColumns[0].type`) as a JSON pointer (`/extraColumns/0/type`),
/// the form every other convq error path takes.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .fold(String::new(), |out, segment| match segment {
            Segment::Seq { index } => pointer_index(&out, *index),
            Segment::Map { key } => pointer_key(&out, key),
            // Options has only unit variants, which never add a level below their key.
            Segment::Enum { .. } | Segment::Unknown => out,
        })
}

/// The reading of `createdBeforeDays: N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DaysReading {
    /// Created within the last N days: `Microsoft.Dynamics.CRM.LastXDays` / `last-x-days`, from
    /// midnight N days before today up to now.
    #[default]
    LastXDays,
    /// Created more than N days ago: `Microsoft.Dynamics.CRM.OlderThanXDays` /
    /// `olderthan-x-days`, before midnight N days before today.
    OlderThanXDays,
}

/// Policy for columns that are not in the catalog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum UnknownColumns {
    /// Pass them through with an `unknown_column` warning (organizations add custom columns).
    #[default]
    Warn,
    /// Reject them with the `unknown_column` error (strict mode).
    Error,
}

/// A custom column declared by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraColumn {
    /// Its logical name (case-insensitive).
    pub logical_name: String,
    /// Its attribute type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// Rendering of a `status` filter with several values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StatusFilter {
    /// `(statuscode eq 2 or statuscode eq 3)`: plain OData 4.0, accepted everywhere.
    #[default]
    OrChain,
    /// `Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['2','3'])`.
    CrmIn,
}
