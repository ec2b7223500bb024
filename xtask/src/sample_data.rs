//! `cargo xtask sample-data [--check]`: the sample conversation store that `convq get` answers
//! from when no backend is named (`crates/convq-backend/data/sample-conversations.json`).
//!
//! A seeded generator (fastrand's wyrand with a fixed seed, integer arithmetic only, no hash-map
//! iteration), so every run on every machine writes the same bytes. The file is a Web API
//! response body, as a user would save it from
//! `GET /api/data/v9.2/msdyn_ocliveworkitems`, one record per line so diffs stay readable:
//! 3,000 conversations of 20 agents (including the documented example agent
//! `2b330c52-6844-4d36-8e05-03c78c9681dc`), every statuscode 1..=7, the channels of the
//! `msdyn_streamsource` choice, titles with quotes and non-ASCII text, and `createdon` spread
//! over the 90 days before [`REFERENCE_TIME`]. Like a body saved with
//! `Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"`, each record
//! carries its `@odata.etag`, the names of its agent, owner, workstream, queue and customer, and
//! the labels of its choices.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::codegen::Mode;
use crate::project_root;

/// Where the store goes, relative to the workspace root.
pub(crate) const PATH: &str = "crates/convq-backend/data/sample-conversations.json";
/// The newest `createdon` in the store: 2026-11-20T12:00:00Z. Give `--now` near it.
pub(crate) const REFERENCE_TIME: i64 = 1_795_176_000;
const DAYS: i64 = 90;
const CONVERSATIONS: usize = 3_000;
const SEED: u64 = 0x636f_6e76_7100_0003;
/// The agent of the getConversations documentation example.
const EXAMPLE_AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const AGENTS: usize = 20;

/// Writes the store, or in check mode fails when the committed file differs.
pub(crate) fn generate(mode: Mode) -> anyhow::Result<()> {
    let contents = render()?;
    let full = project_root().join(PATH);
    let current = match fs::read_to_string(&full) {
        Ok(text) => Some(text.replace("\r\n", "\n")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {PATH}")),
    };
    if current.as_deref() == Some(contents.as_str()) {
        return Ok(());
    }
    match mode {
        Mode::Check => {
            bail!("{PATH} is stale: run `cargo xtask sample-data` and commit the result")
        }
        Mode::Write => {
            fs::create_dir_all(full.parent().unwrap_or(Path::new(".")))
                .with_context(|| format!("creating the directory of {PATH}"))?;
            fs::write(&full, &contents).with_context(|| format!("writing {PATH}"))?;
            println!("updated {PATH} ({} bytes)", contents.len());
            Ok(())
        }
    }
}

/// The `msdyn_streamsource` values (domain.md §1) with a weight: how often the channel shows up.
const CHANNELS: &[(&str, u32)] = &[
    ("192360000", 40),          // Live chat
    ("192440000", 12),          // Voice call
    ("192300000", 10),          // WhatsApp
    ("192340000", 8),           // SMS
    ("19241000", 6),            // Microsoft Teams
    ("192330000", 5),           // Facebook
    ("192350000", 4),           // Entity Records
    ("192370000", 3),           // Voice
    ("192380000", 2),           // Video
    ("192350001", 2),           // Twitter
    ("192310000", 2),           // LINE
    ("192320000", 2),           // WeChat
    ("192450000", 1),           // Apple Messages for Business
    ("192450001", 1),           // Google's Business Messages
    ("192350002", 1),           // Custom
    ("192360000,192390000", 1), // Live chat with Co-browse (a multi-select value)
    ("192360000,192400000", 1), // Live chat with Screen sharing
];

const CUSTOMERS: &[&str] = &[
    "Zoë Müller",
    "José Álvarez",
    "Björn Ødegaard",
    "Amélie Laurent",
    "Ana O'Neill",
    "Siobhán Ní Bhriain",
    "Łukasz Wróbel",
    "Nguyễn Thị Hoa",
    "田中 花子",
    "김민준",
    "Ahmed Al-Farsi",
    "Priya Raman",
    "Olivia Smith",
    "Mateus Gonçalves",
    "Dmitri Ivanov",
    "Fatima Zahra",
    "Søren Kierkegaard",
    "Chloé Dubois",
    "Jürgen Groß",
    "Emily Chen",
];

/// Title templates; `{}` is the customer's name.
const TITLES: &[&str] = &[
    "Chat with {}",
    "{}: \"Where is my order?\"",
    "Refund request from {}",
    "{} can't sign in — \"password expired\"",
    "Réclamation : colis endommagé ({})",
    "{} asks about the \"Premium\" plan",
    "Lieferung verspätet – {}",
    "{} reports a double charge of 49,99 €",
    "配送状況の確認 ({})",
    "{}: 'Cancel my subscription'",
    "Address change for {}",
    "{} — invoice #2026-0042 missing",
    "¿Dónde está mi pedido? ({})",
    "{} wants to talk to a supervisor",
];

/// Agent (systemuser) names, one per agent, the documented example's first: the formatted value
/// of `_msdyn_activeagentid_value` and `_ownerid_value`.
const AGENT_NAMES: [&str; AGENTS] = [
    "Aiko Tanaka",
    "émile Roux",
    "Zoë Fischer",
    "Marco Rossi",
    "Ingrid Ødegård",
    "Chen Wei",
    "Ángela Ruiz",
    "david Okafor",
    "Sofia Lindqvist",
    "Ravi Kumar",
    "Éva Kovács",
    "Lucas Martin",
    "Nora Haddad",
    "Tomás Silva",
    "Hannah Becker",
    "Yusuf Demir",
    "Camille Petit",
    "Olga Sokolova",
    "Kenji Sato",
    "Fiona Walsh",
];
/// Workstream names (`_msdyn_liveworkstreamid_value`).
const WORKSTREAM_NAMES: [&str; 4] = [
    "Live chat workstream",
    "Voice workstream",
    "Messaging (WhatsApp, SMS)",
    "Entity records routing",
];
/// Queue names (`_msdyn_cdsqueueid_value`): case and accents vary, as typed by admins.
const QUEUE_NAMES: [&str; 6] = [
    "Default messaging queue",
    "billing",
    "Billing escalations",
    "Élite support",
    "Zürich desk",
    "accounts",
];
/// The owner of conversations no agent accepted.
const UNASSIGNED_OWNER_NAME: &str = "Customer Service team";

/// statuscode labels (domain.md §1).
fn status_label(status: u32) -> &'static str {
    [
        "Open",
        "Active",
        "Waiting",
        "Closed",
        "Wrap-up",
        "Resolved",
        "Scheduled",
    ][status as usize - 1]
}

/// statecode labels.
fn state_label(state: u32) -> &'static str {
    ["Open", "Closed", "Resolved", "Scheduled"][state as usize]
}

/// A `msdyn_streamsource` label; a multi-select value's labels are joined with "; ", as
/// Dataverse formats choices columns.
fn channel_label(value: &str) -> String {
    value
        .split(',')
        .map(|v| match v {
            "19241000" => "Microsoft Teams",
            "192300000" => "WhatsApp",
            "192310000" => "LINE",
            "192320000" => "WeChat",
            "192330000" => "Facebook",
            "192340000" => "SMS",
            "192350000" => "Entity Records",
            "192350001" => "Twitter",
            "192350002" => "Custom",
            "192360000" => "Live chat",
            "192370000" => "Voice",
            "192380000" => "Video",
            "192390000" => "Co-browse",
            "192400000" => "Screen sharing",
            "192440000" => "Voice call",
            "192450000" => "Apple Messages for Business",
            "192450001" => "Google's Business Messages",
            _ => "",
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The annotation Web API adds with a property's formatted value.
const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";

const LOCALES: &[&str] = &[
    "en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP", "pt-BR",
];

/// statuscode → statecode (the entity reference's table).
fn statecode(status: u32) -> u32 {
    match status {
        4 => 1,
        6 => 2,
        7 => 3,
        _ => 0,
    }
}

/// A random GUID in the canonical lowercase form, version 4 bits set.
fn guid(rng: &mut fastrand::Rng) -> String {
    let high = (rng.u64(..) & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let low = (rng.u64(..) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// Picks from weighted entries.
fn weighted<'a, T>(rng: &mut fastrand::Rng, entries: &'a [(T, u32)]) -> &'a T {
    let total: u32 = entries.iter().map(|(_, w)| w).sum();
    let mut ticket = rng.u32(..total);
    for (value, weight) in entries {
        if ticket < *weight {
            return value;
        }
        ticket -= weight;
    }
    &entries[entries.len() - 1].0
}

/// Status weights by age: recent conversations are still open, old ones mostly closed.
fn status(rng: &mut fastrand::Rng, age_seconds: i64) -> u32 {
    const RECENT: &[(u32, u32)] = &[(1, 10), (2, 22), (3, 25), (4, 20), (5, 10), (6, 8), (7, 5)];
    const OLDER: &[(u32, u32)] = &[(1, 2), (2, 3), (3, 6), (4, 62), (5, 2), (6, 20), (7, 5)];
    *weighted(
        rng,
        if age_seconds < 3 * 86_400 {
            RECENT
        } else {
            OLDER
        },
    )
}

fn timestamp(unix_seconds: i64) -> anyhow::Result<String> {
    Ok(OffsetDateTime::from_unix_timestamp(unix_seconds)?.format(&Rfc3339)?)
}

/// The whole file.
pub(crate) fn render() -> anyhow::Result<String> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let agents: Vec<String> = std::iter::once(EXAMPLE_AGENT.to_owned())
        .chain((1..AGENTS).map(|_| guid(&mut rng)))
        .collect();
    // The example agent works more than the others, so its queries show a few rows per status.
    let agent_weights: Vec<(usize, u32)> = (0..AGENTS)
        .map(|i| (i, if i == 0 { 12 } else { 5 }))
        .collect();
    let workstreams: Vec<String> = (0..4).map(|_| guid(&mut rng)).collect();
    let queues: Vec<String> = (0..6).map(|_| guid(&mut rng)).collect();
    let unassigned_owner = guid(&mut rng);
    // Drawn after the other ids, so those (and every record before) stay what they were.
    let contacts: Vec<String> = CUSTOMERS.iter().map(|_| guid(&mut rng)).collect();

    let mut records: Vec<(i64, Vec<(String, Value)>)> = Vec::with_capacity(CONVERSATIONS);
    for n in 0..CONVERSATIONS {
        let id = guid(&mut rng);
        let age = rng.i64(0..DAYS * 86_400);
        let created = REFERENCE_TIME - age;
        let status = status(&mut rng, age);
        // About 3% ended before an agent accepted: no active agent (domain.md §1).
        let agent = (rng.u32(..100) >= 3).then(|| *weighted(&mut rng, &agent_weights));
        let customer = rng.usize(..CUSTOMERS.len());
        let title = TITLES[rng.usize(..TITLES.len())].replace("{}", CUSTOMERS[customer]);
        let channel = *weighted(&mut rng, CHANNELS);
        let workstream = rng.usize(..workstreams.len());
        let queue = rng.usize(..queues.len());
        let locale = LOCALES[rng.usize(..LOCALES.len())];
        let session = agent.map(|_| guid(&mut rng));
        let (owner, owner_name) = match agent {
            Some(a) => (agents[a].clone(), AGENT_NAMES[a]),
            None => (unassigned_owner.clone(), UNASSIGNED_OWNER_NAME),
        };
        let state = statecode(status);
        // A row version, as Dataverse's etag: unique and growing with the generation order.
        let etag = format!("W/\"{}\"", 5_104_000 + 7 * n + rng.usize(..7));
        let mut record: Vec<(String, Value)> = vec![
            ("@odata.etag".to_owned(), json!(etag)),
            ("activityid".to_owned(), json!(id)),
            ("msdyn_ocliveworkitemid".to_owned(), json!(id)),
            ("msdyn_title".to_owned(), json!(title)),
        ];
        // Each property after its formatted value, where Web API puts the annotation.
        let mut formatted = |name: &str, value: Value, label: Option<String>| {
            if let Some(label) = label {
                record.push((format!("{name}{FORMATTED}"), json!(label)));
            }
            record.push((name.to_owned(), value));
        };
        formatted(
            "msdyn_channel",
            json!(channel),
            Some(channel_label(channel)),
        );
        formatted(
            "statuscode",
            json!(status),
            Some(status_label(status).to_owned()),
        );
        formatted(
            "statecode",
            json!(state),
            Some(state_label(state).to_owned()),
        );
        formatted("createdon", json!(timestamp(created)?), None);
        formatted(
            "_msdyn_activeagentid_value",
            json!(agent.map(|a| &agents[a])),
            agent.map(|a| AGENT_NAMES[a].to_owned()),
        );
        formatted("_ownerid_value", json!(owner), Some(owner_name.to_owned()));
        formatted(
            "_msdyn_liveworkstreamid_value",
            json!(workstreams[workstream]),
            Some(WORKSTREAM_NAMES[workstream].to_owned()),
        );
        formatted("_msdyn_lastsessionid_value", json!(session), None);
        formatted(
            "_msdyn_cdsqueueid_value",
            json!(queues[queue]),
            Some(QUEUE_NAMES[queue].to_owned()),
        );
        formatted(
            "_msdyn_customer_value",
            json!(contacts[customer]),
            Some(CUSTOMERS[customer].to_owned()),
        );
        formatted("msdyn_customerlocale", json!(locale), None);
        records.push((created, record));
    }
    // Oldest first, as an export ordered by createdon; the sort is stable, so equal times keep
    // generation order.
    records.sort_by_key(|(created, _)| *created);

    let mut out = String::with_capacity(2 << 20);
    out.push_str("{\n");
    out.push_str(
        "\"@odata.context\":\"https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#msdyn_ocliveworkitems\",\n",
    );
    out.push_str(
        "\"@convq.generated\":\"by `cargo xtask sample-data` (seeded, deterministic); do not edit\",\n",
    );
    out.push_str("\"value\":[\n");
    for (i, (_, record)) in records.iter().enumerate() {
        out.push('{');
        for (j, (key, value)) in record.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key.as_str())?);
            out.push(':');
            out.push_str(&serde_json::to_string(value)?);
        }
        out.push('}');
        if i + 1 < records.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("]\n}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` fails when the committed sample store no longer matches the generator.
    #[test]
    fn sample_data_is_fresh() {
        if let Err(e) = generate(Mode::Check) {
            panic!("{e:#}");
        }
    }

    #[test]
    fn the_store_is_deterministic_small_and_complete() {
        let text = render().unwrap();
        assert_eq!(text, render().unwrap(), "two runs differ");
        assert!(text.len() < 4_500_000, "{} bytes", text.len());
        let body: Value = serde_json::from_str(&text).unwrap();
        let records = body["value"].as_array().unwrap();
        assert_eq!(records.len(), CONVERSATIONS);
        let statuses: std::collections::BTreeSet<u64> = records
            .iter()
            .filter_map(|r| r["statuscode"].as_u64())
            .collect();
        assert_eq!(statuses, (1..=7).collect());
        let example = records
            .iter()
            .filter(|r| r["_msdyn_activeagentid_value"] == EXAMPLE_AGENT && r["statuscode"] == 3)
            .count();
        assert!(
            example >= 5,
            "the example agent has {example} waiting conversations"
        );
        let newest = records.last().unwrap()["createdon"].as_str().unwrap();
        assert!(newest <= "2026-11-20T12:00:00Z", "{newest}");
        assert!(
            records
                .iter()
                .any(|r| r["_msdyn_activeagentid_value"].is_null())
        );
        assert!(records.iter().any(|r| {
            let title = r["msdyn_title"].as_str().unwrap();
            title.contains('"') && !title.is_ascii()
        }));
        // What a real org returns: an etag on every record, a customer and names for the
        // lookups, labels for the choices.
        for record in records {
            assert!(record["@odata.etag"].as_str().unwrap().starts_with("W/\""));
            assert!(record["_msdyn_customer_value"].is_string());
            for property in [
                "_msdyn_customer_value",
                "_msdyn_cdsqueueid_value",
                "_msdyn_liveworkstreamid_value",
                "_ownerid_value",
                "statuscode",
                "statecode",
                "msdyn_channel",
            ] {
                let label = &record[format!("{property}{FORMATTED}")];
                assert!(
                    label.as_str().is_some_and(|l| !l.is_empty()),
                    "{property}: {record}"
                );
            }
            assert_eq!(
                record["_msdyn_activeagentid_value"].is_null(),
                record[format!("_msdyn_activeagentid_value{FORMATTED}")].is_null()
            );
        }
    }

    #[test]
    fn the_reference_time_is_the_documented_one() {
        assert_eq!(timestamp(REFERENCE_TIME).unwrap(), "2026-11-20T12:00:00Z");
    }
}
