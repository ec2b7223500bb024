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
//! over the 90 days before [`REFERENCE_TIME`].

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

    let mut records: Vec<(i64, Vec<(&str, Value)>)> = Vec::with_capacity(CONVERSATIONS);
    for _ in 0..CONVERSATIONS {
        let id = guid(&mut rng);
        let age = rng.i64(0..DAYS * 86_400);
        let created = REFERENCE_TIME - age;
        let status = status(&mut rng, age);
        // About 3% ended before an agent accepted: no active agent (domain.md §1).
        let agent =
            (rng.u32(..100) >= 3).then(|| agents[*weighted(&mut rng, &agent_weights)].clone());
        let customer = CUSTOMERS[rng.usize(..CUSTOMERS.len())];
        let title = TITLES[rng.usize(..TITLES.len())].replace("{}", customer);
        let channel = *weighted(&mut rng, CHANNELS);
        let workstream = &workstreams[rng.usize(..workstreams.len())];
        let queue = &queues[rng.usize(..queues.len())];
        let locale = LOCALES[rng.usize(..LOCALES.len())];
        let session = agent.as_ref().map(|_| guid(&mut rng));
        let owner = agent.clone().unwrap_or_else(|| unassigned_owner.clone());
        let record = vec![
            ("activityid", json!(id)),
            ("msdyn_ocliveworkitemid", json!(id)),
            ("msdyn_title", json!(title)),
            ("msdyn_channel", json!(channel)),
            ("statuscode", json!(status)),
            ("statecode", json!(statecode(status))),
            ("createdon", json!(timestamp(created)?)),
            ("_msdyn_activeagentid_value", json!(agent)),
            ("_ownerid_value", json!(owner)),
            ("_msdyn_liveworkstreamid_value", json!(workstream)),
            ("_msdyn_lastsessionid_value", json!(session)),
            ("_msdyn_cdsqueueid_value", json!(queue)),
            ("msdyn_customerlocale", json!(locale)),
        ];
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
            out.push_str(&serde_json::to_string(key)?);
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
        assert!(text.len() < 2_000_000, "{} bytes", text.len());
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
    }

    #[test]
    fn the_reference_time_is_the_documented_one() {
        assert_eq!(timestamp(REFERENCE_TIME).unwrap(), "2026-11-20T12:00:00Z");
    }
}
