//! Live lists: `convq get --watch` (heading "Watch") and the settings of `serve`'s
//! `/getConversations/stream` (heading "Live lists").

use std::time::Duration;

use super::parse_duration;

/// `convq get --watch`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Watch")]
pub(crate) struct WatchArgs {
    /// Keep running: print the list as a `snapshot` event, then `added` / `changed` /
    /// `removed` events as the answer changes, one JSON object per line (NDJSON). With --data,
    /// the file is read again when it changes.
    #[arg(long, conflicts_with = "ndjson")]
    pub(crate) watch: bool,

    /// With --watch: how often to ask again.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION",
          requires = "watch")]
    pub(crate) interval: Duration,

    /// With --watch: stop after this long (exit 0); by default it runs until interrupted.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "watch")]
    pub(crate) watch_for: Option<Duration>,
}

/// `serve`: `/getConversations/stream`'s settings.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Live lists")]
pub(crate) struct StreamArgs {
    /// How often /getConversations/stream asks the backend again (one request per query shape
    /// per interval with --dataverse).
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) stream_interval: Duration,

    /// How often an idle stream gets a heartbeat comment.
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) stream_heartbeat: Duration,

    /// Live-list subscribers at once, all callers together.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub(crate) max_subscribers: usize,

    /// Live-list subscribers at once per caller.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub(crate) max_subscribers_per_caller: usize,

    /// Delta mode: live lists keep a copy of the conversation table current with Dataverse
    /// change tracking (one request per interval, whatever the number of lists and shapes) and
    /// run each list's query on it. Needs --dataverse with the service's own identity (not
    /// --auth passthrough), organization-wide read and Track changes enabled on
    /// msdyn_ocliveworkitem; without change tracking the lists are polled as usual (a warning
    /// says so).
    #[arg(long, requires = "dataverse")]
    pub(crate) stream_delta: bool,
}

impl StreamArgs {
    /// The service's stream settings.
    pub(crate) fn config(&self) -> convq_http::StreamConfig {
        let mut config = convq_http::StreamConfig::default();
        config.interval = self.stream_interval;
        config.heartbeat = self.stream_heartbeat;
        config.max_subscribers = self.max_subscribers;
        config.max_per_caller = self.max_subscribers_per_caller;
        config
    }
}
