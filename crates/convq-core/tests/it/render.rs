//! The documented example and the domain spec's variants (domain.md §4 and §6), byte for byte.
//!
//! Expected strings come from the spec, not from the code. Where the spec and the issue
//! differ, the issue wins: statuses are sorted (§6 shows `[3,2]` kept in input order), and
//! option values are percent-encoded exactly as `encodeURIComponent` does, so `$select`'s
//! commas are `%2C` in the path (§6 shows them literal). The encoded forms below are what node
//! prints for `encodeURIComponent` of the raw values.

use convq_core::{Compiled, Options, compile};
use serde_json::json;

use crate::{AGENT, options};

/// The documented getConversations example ("fetches the currently waiting conversation").
const GOLDEN: &str = r#"{"attributes":["msdyn_title","msdyn_channel"],"orderBy":[{"attributeName":"createdon","descending":true}],"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","status":[3]}"#;

const DEFAULT_SELECT: &str = "msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,\
                              _msdyn_lastsessionid_value,statuscode,createdon";
const AGENT_FILTER: &str = "_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc";

fn compile_json(input: &serde_json::Value, options: &Options) -> Compiled {
    compile(&input.to_string(), options).expect("compiles")
}

#[test]
fn golden_options_string() {
    let compiled = compile(GOLDEN, &Options::default()).unwrap();
    assert_eq!(
        compiled.options,
        "?$select=msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,\
         statuscode,createdon,msdyn_title,msdyn_channel\
         &$filter=_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3\
         &$orderby=createdon desc,activityid asc"
    );
    assert_eq!(compiled.top, None);
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
}

#[test]
fn golden_request_path() {
    let compiled = compile(GOLDEN, &Options::default()).unwrap();
    assert_eq!(
        compiled.path,
        "/api/data/v9.2/msdyn_ocliveworkitems\
         ?$select=msdyn_ocliveworkitemid%2C_msdyn_liveworkstreamid_value%2C_msdyn_lastsessionid_value\
         %2Cstatuscode%2Ccreatedon%2Cmsdyn_title%2Cmsdyn_channel\
         &$filter=_msdyn_activeagentid_value%20eq%202b330c52-6844-4d36-8e05-03c78c9681dc%20and\
         %20statuscode%20eq%203\
         &$orderby=createdon%20desc%2Cactivityid%20asc"
    );
    assert_eq!(compiled.url, None);
}

#[test]
fn golden_fetchxml() {
    let compiled = compile(GOLDEN, &Options::default()).unwrap();
    // domain.md §4, verbatim (the Node tests read the same file). createdon is a date, so no
    // `useraworderby`.
    assert_eq!(
        compiled.fetchxml,
        include_str!("../fixtures/golden_documented_example.fetchxml").trim_end()
    );
}

#[test]
fn golden_with_base_url_is_the_full_url() {
    let compiled = compile(
        GOLDEN,
        &options(json!({ "baseUrl": "https://contoso.crm.dynamics.com/" })),
    )
    .unwrap();
    assert_eq!(
        compiled.url.as_deref(),
        Some(format!("https://contoso.crm.dynamics.com{}", compiled.path).as_str())
    );
}

#[test]
fn several_statuses_are_a_sorted_parenthesized_or_chain() {
    let compiled = compile_json(
        &json!({ "agentId": AGENT, "status": [3, 2] }),
        &Options::default(),
    );
    assert_eq!(
        compiled.filter,
        format!("{AGENT_FILTER} and (statuscode eq 2 or statuscode eq 3)")
    );
    assert!(
        compiled.fetchxml.contains(
            "      <condition attribute=\"statuscode\" operator=\"in\">\n        \
             <value>2</value>\n        <value>3</value>\n      </condition>\n"
        ),
        "{}",
        compiled.fetchxml
    );
}

#[test]
fn several_statuses_as_crm_in() {
    let compiled = compile_json(
        &json!({ "agentId": AGENT, "status": [3, 2] }),
        &options(json!({ "statusFilter": "crmIn" })),
    );
    assert_eq!(
        compiled.filter,
        format!(
            "{AGENT_FILTER} and \
             Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['2','3'])"
        )
    );
    assert!(
        compiled.path.ends_with(
            "&$filter=_msdyn_activeagentid_value%20eq%202b330c52-6844-4d36-8e05-03c78c9681dc%20and\
             %20Microsoft.Dynamics.CRM.In(PropertyName%3D'statuscode'%2CPropertyValues%3D%5B'2'%2C'3'%5D)"
        ),
        "{}",
        compiled.path
    );
}

#[test]
fn created_before_days_is_last_x_days() {
    let compiled = compile_json(
        &json!({ "agentId": AGENT, "status": [3], "createdBeforeDays": 7 }),
        &Options::default(),
    );
    assert_eq!(
        compiled.filter,
        format!(
            "{AGENT_FILTER} and statuscode eq 3 and \
             Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)"
        )
    );
    assert!(compiled.path.ends_with(
        "%20and%20Microsoft.Dynamics.CRM.LastXDays(PropertyName%3D'createdon'%2CPropertyValue%3D7)"
    ));
    assert!(
        compiled
            .fetchxml
            .contains("<condition attribute=\"createdon\" operator=\"last-x-days\" value=\"7\" />")
    );
}

#[test]
fn no_attributes_selects_the_five_defaults() {
    let compiled = compile_json(&json!({ "agentId": AGENT }), &Options::default());
    assert_eq!(compiled.select, DEFAULT_SELECT);
    assert_eq!(
        compiled.options,
        format!("?$select={DEFAULT_SELECT}&$filter={AGENT_FILTER}")
    );
    assert_eq!(compiled.orderby, None);
}

#[test]
fn top_is_the_last_option_and_a_fetch_attribute() {
    let compiled = compile_json(
        &json!({ "agentId": AGENT, "orderBy": [{"attributeName": "createdon"}], "top": 10 }),
        &Options::default(),
    );
    assert!(
        compiled
            .options
            .ends_with("&$orderby=createdon asc,activityid asc&$top=10")
    );
    assert!(
        compiled
            .path
            .ends_with("&$orderby=createdon%20asc%2Cactivityid%20asc&$top=10")
    );
    assert!(compiled.fetchxml.starts_with("<fetch top=\"10\">\n"));
}

#[test]
fn the_primary_key_breaks_ties_unless_the_order_already_has_it_or_there_is_none() {
    let order = |keys: serde_json::Value| {
        let compiled = compile_json(
            &json!({ "agentId": AGENT, "orderBy": keys }),
            &Options::default(),
        );
        let fetch_keys: Vec<String> = compiled
            .fetchxml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<order attribute=\""))
            .map(|l| l.split('"').next().unwrap().to_owned())
            .collect();
        (compiled.orderby, fetch_keys.join(","))
    };
    // Not unique: the key goes last, ascending, in both renderings.
    assert_eq!(
        order(json!([{"attributeName": "msdyn_ocliveworkitemid", "descending": true}])),
        (
            Some("msdyn_ocliveworkitemid desc,activityid asc".to_owned()),
            "msdyn_ocliveworkitemid,activityid".to_owned()
        )
    );
    // Already total, wherever the key is: nothing added.
    assert_eq!(
        order(
            json!([{"attributeName": "activityid", "descending": true}, {"attributeName": "createdon"}])
        ),
        (
            Some("activityid desc,createdon asc".to_owned()),
            "activityid,createdon".to_owned()
        )
    );
    // No order: Dataverse orders by the primary key itself.
    assert_eq!(order(json!([])), (None, String::new()));
}

#[test]
fn ordering_by_a_choice_sorts_fetchxml_by_value_like_web_api() {
    let compiled = compile_json(
        &json!({ "agentId": AGENT, "orderBy": [{"attributeName": "statuscode", "descending": true}] }),
        &Options::default(),
    );
    assert_eq!(
        compiled.orderby.as_deref(),
        Some("statuscode desc,activityid asc")
    );
    assert!(
        compiled
            .fetchxml
            .starts_with("<fetch useraworderby=\"true\">\n")
    );
}

#[test]
fn lookups_use_value_properties_in_web_api_and_plain_names_in_fetchxml() {
    let compiled = compile_json(
        &json!({
            "agentId": AGENT,
            "attributes": ["ownerid"],
            "orderBy": [{"attributeName": "_msdyn_queueid_value"}],
        }),
        &Options::default(),
    );
    assert_eq!(compiled.select, format!("{DEFAULT_SELECT},_ownerid_value"));
    assert_eq!(
        compiled.orderby.as_deref(),
        Some("_msdyn_queueid_value asc,activityid asc")
    );
    assert!(compiled.fetchxml.contains("<attribute name=\"ownerid\" />"));
    assert!(
        compiled
            .fetchxml
            .contains("<order attribute=\"msdyn_queueid\" descending=\"false\" />")
    );
}
