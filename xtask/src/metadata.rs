//! The typed, validated form of `metadata/msdyn_ocliveworkitem.json`: the one source every
//! catalog artefact (Rust tables, reference docs) is generated from.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs;

use anyhow::{Context as _, bail};
use convq_core::catalog::ColumnType;
use serde::Deserialize;

use crate::project_root;

/// Where the metadata lives, relative to the project root.
pub(crate) const METADATA_PATH: &str = "metadata/msdyn_ocliveworkitem.json";

/// The file as written: serde rejects unknown fields and wrong JSON types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    entity: Entity,
    columns: Vec<RawColumn>,
}

/// Table-level properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Entity {
    pub(crate) logical_name: String,
    pub(crate) entity_set_name: String,
    pub(crate) primary_id_attribute: String,
    pub(crate) primary_name_attribute: String,
    pub(crate) display_name: String,
    /// The document the metadata was taken from.
    pub(crate) source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawColumn {
    logical_name: String,
    /// A variant name of [`ColumnType`]; checked by [`validate`] so the error can name the column.
    #[serde(rename = "type")]
    column_type: String,
    /// Absent when the entity reference gives the column no display name.
    #[serde(default)]
    display_name: Option<String>,
    description: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    options: Vec<OptionEntry>,
}

/// One value of a choice column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptionEntry {
    pub(crate) value: i32,
    pub(crate) label: String,
    /// For a Status column: the statecode this status reason belongs to.
    #[serde(default)]
    pub(crate) state: Option<i32>,
}

/// Validated metadata. Columns are sorted by logical name and unique.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) entity: Entity,
    pub(crate) columns: Vec<Column>,
}

/// A validated column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) logical_name: String,
    pub(crate) column_type: ColumnType,
    pub(crate) display_name: Option<String>,
    pub(crate) description: String,
    pub(crate) targets: Vec<String>,
    pub(crate) options: Vec<OptionEntry>,
}

impl Column {
    /// The property Web API uses in `$select`, `$filter` and `$orderby`, if there is one.
    pub(crate) fn web_api_property(&self) -> Option<String> {
        if self.column_type.unsupported_reason().is_some() {
            None
        } else if self.column_type.is_lookup() {
            Some(format!("_{}_value", self.logical_name))
        } else {
            Some(self.logical_name.clone())
        }
    }
}

/// Reads, parses and validates [`METADATA_PATH`].
pub(crate) fn load() -> anyhow::Result<Metadata> {
    let path = project_root().join(METADATA_PATH);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {METADATA_PATH}"))?;
    parse(&text).with_context(|| format!("{METADATA_PATH} is invalid"))
}

/// Parses and validates metadata JSON text.
pub(crate) fn parse(text: &str) -> anyhow::Result<Metadata> {
    let raw: RawMetadata = serde_json::from_str(text)?;
    validate(raw)
}

/// `^[a-z_][a-z0-9_]*$`: a lowercase logical name, as Web API and FetchXML spell it.
fn is_logical_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_column_type(name: &str) -> Result<ColumnType, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|e| e.to_string())
}

/// Checks everything serde cannot, collecting every problem so one run reports them all.
fn validate(raw: RawMetadata) -> anyhow::Result<Metadata> {
    let mut errors: Vec<String> = Vec::new();
    let entity = raw.entity;

    for (field, value) in [
        ("entity.logicalName", &entity.logical_name),
        ("entity.entitySetName", &entity.entity_set_name),
        ("entity.primaryIdAttribute", &entity.primary_id_attribute),
        (
            "entity.primaryNameAttribute",
            &entity.primary_name_attribute,
        ),
    ] {
        if !is_logical_name(value) {
            errors.push(format!(
                "{field} `{value}` must match ^[a-z_][a-z0-9_]*$ (lowercase logical name)"
            ));
        }
    }
    if entity.display_name.trim().is_empty() {
        errors.push("entity.displayName must not be empty".to_owned());
    }
    if !entity.source.starts_with("https://") {
        errors.push(format!(
            "entity.source `{}` must be an https:// URL",
            entity.source
        ));
    }
    if raw.columns.is_empty() {
        errors.push("columns must not be empty".to_owned());
    }

    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(raw.columns.len());
    let mut previous: Option<&str> = None;
    for col in &raw.columns {
        let name = col.logical_name.as_str();
        let mut error = |message: String| errors.push(format!("column `{name}`: {message}"));

        if !is_logical_name(name) {
            error("the logical name must match ^[a-z_][a-z0-9_]*$ (lowercase ASCII letters, digits and underscores)".to_owned());
        }
        if !seen.insert(name) {
            error("listed more than once; logical names must be unique".to_owned());
        } else if let Some(prev) = previous.filter(|prev| *prev > name) {
            error(format!(
                "out of order: columns must be sorted by logicalName, and `{name}` comes after `{prev}`"
            ));
        }
        previous = Some(name);

        let column_type = match parse_column_type(&col.column_type) {
            Ok(t) => Some(t),
            Err(e) => {
                error(format!(
                    "unknown type `{}` (must be a variant of convq_core::catalog::ColumnType): {e}",
                    col.column_type
                ));
                None
            }
        };

        if let Some(display) = &col.display_name
            && (display.trim().is_empty() || display.trim() != display)
        {
            error(format!(
                "displayName `{display}` must be non-empty without surrounding spaces (leave it out if there is none)"
            ));
        }
        if col.description.trim().is_empty() {
            error("description must not be empty".to_owned());
        }

        if let Some(t) = column_type {
            if !col.options.is_empty() && !t.is_option_set() {
                error(format!(
                    "has options, but options are only allowed on choice types (Picklist, MultiSelectPicklist, State, Status), not {t:?}"
                ));
            }
            if !col.targets.is_empty() && !t.is_lookup() {
                error(format!(
                    "has targets, but targets are only allowed on lookup types (Lookup, Customer, Owner), not {t:?}"
                ));
            }
            if t != ColumnType::Status
                && let Some(o) = col.options.iter().find(|o| o.state.is_some())
            {
                error(format!(
                    "option {} has a state, but only Status options name their statecode",
                    o.value
                ));
            }
        }

        let mut values = HashSet::new();
        for option in &col.options {
            if !values.insert(option.value) {
                error(format!(
                    "option value {} is listed more than once",
                    option.value
                ));
            }
            if option.label.trim().is_empty() {
                error(format!("option {} has an empty label", option.value));
            }
        }
        let mut targets = HashSet::new();
        for target in &col.targets {
            if !is_logical_name(target) {
                error(format!(
                    "target `{target}` must be a lowercase table logical name"
                ));
            }
            if !targets.insert(target) {
                error(format!("target `{target}` is listed more than once"));
            }
        }

        if let Some(column_type) = column_type {
            columns.push(Column {
                logical_name: col.logical_name.clone(),
                column_type,
                display_name: col.display_name.clone(),
                description: col.description.clone(),
                targets: col.targets.clone(),
                options: col.options.clone(),
            });
        }
    }

    // Cross-column checks.
    let find = |name: &str| columns.iter().find(|c| c.logical_name == name);
    match find(&entity.primary_id_attribute) {
        None => errors.push(format!(
            "entity.primaryIdAttribute `{}` is not one of the columns",
            entity.primary_id_attribute
        )),
        Some(c) if c.column_type != ColumnType::Uniqueidentifier => errors.push(format!(
            "entity.primaryIdAttribute `{}` must be a Uniqueidentifier column, not {:?}",
            c.logical_name, c.column_type
        )),
        Some(_) => {}
    }
    if find(&entity.primary_name_attribute).is_none() {
        errors.push(format!(
            "entity.primaryNameAttribute `{}` is not one of the columns",
            entity.primary_name_attribute
        ));
    }
    let states: BTreeSet<i32> = columns
        .iter()
        .filter(|c| c.column_type == ColumnType::State)
        .flat_map(|c| c.options.iter().map(|o| o.value))
        .collect();
    for column in columns
        .iter()
        .filter(|c| c.column_type == ColumnType::Status)
    {
        for option in &column.options {
            if let Some(state) = option.state
                && !states.is_empty()
                && !states.contains(&state)
            {
                errors.push(format!(
                    "column `{}`: option {} names state {state}, which the State column does not list",
                    column.logical_name, option.value
                ));
            }
        }
    }

    if errors.is_empty() {
        Ok(Metadata { entity, columns })
    } else {
        let mut message = format!("{} problem(s):", errors.len());
        for e in &errors {
            write!(message, "\n  - {e}").expect("writing to a String");
        }
        bail!(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTITY: &str = r#""entity": {
        "logicalName": "msdyn_ocliveworkitem",
        "entitySetName": "msdyn_ocliveworkitems",
        "primaryIdAttribute": "activityid",
        "primaryNameAttribute": "subject",
        "displayName": "Conversation",
        "source": "https://learn.microsoft.com/"
    }"#;

    const ACTIVITYID: &str = r#"{"logicalName": "activityid", "type": "Uniqueidentifier", "displayName": "Activity", "description": "Primary key."}"#;
    const SUBJECT: &str = r#"{"logicalName": "subject", "type": "String", "displayName": "Subject", "description": "Primary name."}"#;

    /// Metadata with the two columns the entity needs plus `extra`, in order.
    fn metadata_with(extra: &[&str]) -> String {
        let mut columns = vec![ACTIVITYID];
        columns.extend_from_slice(extra);
        columns.push(SUBJECT);
        format!(r#"{{ {ENTITY}, "columns": [{}] }}"#, columns.join(","))
    }

    fn error_of(text: &str) -> String {
        format!(
            "{:#}",
            parse(text).expect_err("metadata should be rejected")
        )
    }

    /// Metadata with `columns` is rejected with an error that contains `expected`.
    fn assert_rejected(columns: &[&str], expected: &str) {
        let e = error_of(&metadata_with(columns));
        assert!(e.contains(expected), "{e}");
    }

    #[test]
    fn minimal_metadata_is_accepted() {
        let m = parse(&metadata_with(&[
            r#"{"logicalName": "msdyn_activeagentid", "type": "Lookup", "displayName": "Active Agent", "description": "Agent.", "targets": ["systemuser"]}"#,
            r#"{"logicalName": "statecode", "type": "State", "displayName": "State", "description": "State.", "options": [{"value": 0, "label": "Open"}]}"#,
            r#"{"logicalName": "statuscode", "type": "Status", "displayName": "Status Reason", "description": "Status.", "options": [{"value": 3, "label": "Waiting", "state": 0}]}"#,
        ]))
        .unwrap();
        assert_eq!(m.columns.len(), 5);
        assert_eq!(m.columns[1].column_type, ColumnType::Lookup);
        assert_eq!(
            m.columns[1].web_api_property().as_deref(),
            Some("_msdyn_activeagentid_value")
        );
    }

    #[test]
    fn a_bad_type_is_rejected_naming_the_column() {
        assert_rejected(
            &[r#"{"logicalName": "msdyn_title", "type": "Text", "description": "Title."}"#],
            "column `msdyn_title`: unknown type `Text`",
        );
    }

    #[test]
    fn an_uppercase_name_is_rejected() {
        assert_rejected(
            &[
                r#"{"logicalName": "msdyn_channelproviderName", "type": "Memo", "description": "Provider."}"#,
            ],
            "column `msdyn_channelproviderName`: the logical name must match ^[a-z_][a-z0-9_]*$",
        );
    }

    #[test]
    fn a_duplicate_is_rejected() {
        let title = r#"{"logicalName": "msdyn_title", "type": "String", "description": "Title."}"#;
        assert_rejected(
            &[title, title],
            "column `msdyn_title`: listed more than once",
        );
    }

    #[test]
    fn unsorted_columns_are_rejected() {
        assert_rejected(
            &[
                r#"{"logicalName": "statuscode", "type": "Status", "description": "Status."}"#,
                r#"{"logicalName": "createdon", "type": "DateTime", "description": "Created."}"#,
            ],
            "column `createdon`: out of order",
        );
    }

    #[test]
    fn options_and_targets_only_on_their_types() {
        let e = error_of(&metadata_with(&[
            r#"{"logicalName": "createdon", "type": "DateTime", "description": "Created.", "options": [{"value": 1, "label": "x"}]}"#,
            r#"{"logicalName": "msdyn_title", "type": "String", "description": "Title.", "targets": ["systemuser"]}"#,
        ]));
        assert!(e.contains("column `createdon`: has options"), "{e}");
        assert!(e.contains("column `msdyn_title`: has targets"), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = error_of(&metadata_with(&[
            r#"{"logicalName": "msdyn_title", "type": "String", "description": "Title.", "maxLength": 4000}"#,
        ]));
        assert!(e.contains("unknown field `maxLength`"), "{e}");
    }

    #[test]
    fn the_primary_key_must_be_a_listed_guid_column() {
        let text = format!(r#"{{ {ENTITY}, "columns": [{SUBJECT}] }}"#);
        let e = error_of(&text);
        assert!(
            e.contains("entity.primaryIdAttribute `activityid` is not one of the columns"),
            "{e}"
        );
    }
}
