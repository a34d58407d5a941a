//! `stampede dlt`: dead-letter operations.
//!
//! - `dlt list`: every `<topic>.DLT` with its letters, the oldest and newest,
//!   how many were replayed, and which consumer groups gave up on them.
//! - `dlt show <topic> [--limit N]`: the letters, readable: where each came
//!   from, the error, the key and the payload.
//! - `dlt replay <topic> [--group G] [--since T] [--dry-run]`: re-publishes
//!   letters to their original topic (from `kafka_dlt-original-topic`) so a
//!   fixed consumer processes them. Every consumer of that topic sees the
//!   replay; they are idempotent, so only the one that failed has work to
//!   do. Replayed letters are recorded in `dlt_replays` and skipped by the
//!   next replay.
//!
//! `<topic>` is the logical name with or without `.DLT`
//! (`payment.success` and `payment.success.DLT` mean the same).

use crate::configuration::Settings;
use chrono::{DateTime, Utc};
use stampede_infra::kafka::dead_letter_reader::{
    dead_letter_topics, read_dead_letters, DeadLetter,
};
use stampede_infra::kafka::TopicNames;
use stampede_infra::mysql::dlt_replays;
use stampede_infra::Infra;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct DltArgs {
    #[command(subcommand)]
    command: DltCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DltCommand {
    /// Dead-letter topics: letters, oldest and newest, replayed, groups.
    List,
    /// The letters of one topic, readable.
    Show {
        topic: String,
        /// Show at most this many (the oldest first).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Re-publish letters to their original topic.
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    pub topic: String,
    /// Only letters this consumer group gave up on (with or without the group prefix).
    #[arg(long)]
    pub group: Option<String>,
    /// Only letters dead-lettered since then: RFC 3339 (`2026-11-25T10:00:00Z`)
    /// or a span back from now (`90s`, `15m`, `2h`, `1d`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// List what would be replayed; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(settings: Settings, args: DltArgs) -> anyhow::Result<()> {
    let infra = Infra::connect(settings.infra()).await?;
    match args.command {
        DltCommand::List => {
            let summaries = list(&infra).await?;
            print_list(&infra.topics, &summaries);
        }
        DltCommand::Show { topic, limit } => {
            let topic = dlt_topic(&infra.topics, &topic);
            let letters = read_dead_letters(infra.kafka(), &topic).await?;
            let replayed = dlt_replays::replayed(&infra.pool, &topic).await?;
            println!("{topic}: {} letters", letters.len());
            for letter in letters.iter().take(limit) {
                print_letter(
                    letter,
                    replayed.contains(&(letter.partition, letter.offset)),
                );
            }
        }
        DltCommand::Replay(replay_args) => {
            let report = replay(&infra, &replay_args, true).await?;
            println!("{report}");
        }
    }
    Ok(())
}

/// One dead-letter topic at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DltSummary {
    pub topic: String,
    pub letters: usize,
    pub replayed: usize,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// Letters per consumer group that gave up on them.
    pub groups: BTreeMap<String, usize>,
}

pub async fn list(infra: &Infra) -> anyhow::Result<Vec<DltSummary>> {
    let mut summaries = Vec::new();
    for topic in dead_letter_topics(infra.kafka()).await? {
        let letters = read_dead_letters(infra.kafka(), &topic).await?;
        if letters.is_empty() {
            continue;
        }
        let replayed = dlt_replays::replayed(&infra.pool, &topic).await?;
        let mut groups = BTreeMap::new();
        for letter in &letters {
            let group = letter.consumer_group().unwrap_or_else(|| "?".into());
            *groups.entry(group).or_default() += 1;
        }
        let times = letters.iter().filter_map(|l| l.timestamp_ms);
        summaries.push(DltSummary {
            replayed: letters
                .iter()
                .filter(|l| replayed.contains(&(l.partition, l.offset)))
                .count(),
            oldest_ms: times.clone().min(),
            newest_ms: times.max(),
            letters: letters.len(),
            groups,
            topic,
        });
    }
    Ok(summaries)
}

/// What a replay did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub topic: String,
    pub dry_run: bool,
    /// Letters read from the DLT.
    pub read: usize,
    /// Letters outside `--group` / `--since`.
    pub filtered_out: usize,
    /// Letters a replay before this one re-published already.
    pub replayed_before: usize,
    /// Letters without `kafka_dlt-original-topic`: nowhere to send them.
    pub unreplayable: usize,
    /// Letters re-published now (or that would be, dry).
    pub replayed: usize,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would replay"
        } else {
            "replayed"
        };
        write!(
            f,
            "{}: {} letters read, {verb} {}, {} replayed before, {} filtered out, {} without an original topic",
            self.topic, self.read, self.replayed, self.replayed_before, self.filtered_out, self.unreplayable
        )
    }
}

/// Replays the letters of `args.topic` that match, once each.
pub async fn replay(
    infra: &Infra,
    args: &ReplayArgs,
    show_progress: bool,
) -> anyhow::Result<ReplayReport> {
    let topic = dlt_topic(&infra.topics, &args.topic);
    let letters = read_dead_letters(infra.kafka(), &topic).await?;
    let before = dlt_replays::replayed(&infra.pool, &topic).await?;
    let wanted_group = args
        .group
        .as_ref()
        .map(|g| (g.clone(), infra.topics.group(g)));
    let mut report = ReplayReport {
        topic: topic.clone(),
        dry_run: args.dry_run,
        read: letters.len(),
        ..ReplayReport::default()
    };
    let mut chosen = Vec::new();
    for letter in &letters {
        let group_ok = wanted_group.as_ref().is_none_or(|(logical, physical)| {
            letter
                .consumer_group()
                .is_some_and(|g| &g == logical || &g == physical)
        });
        let since_ok = args.since.is_none_or(|since| {
            letter
                .timestamp_ms
                .is_some_and(|t| t >= since.timestamp_millis())
        });
        if !(group_ok && since_ok) {
            report.filtered_out += 1;
        } else if before.contains(&(letter.partition, letter.offset)) {
            report.replayed_before += 1;
        } else if let Some(record) = letter.replay_record() {
            chosen.push((letter, record));
        } else {
            report.unreplayable += 1;
        }
    }
    if args.dry_run {
        for (letter, record) in &chosen {
            println!("would replay {} → {}", letter.position(), record.topic);
        }
        report.replayed = chosen.len();
        return Ok(report);
    }
    let bar = show_progress.then(|| crate::bench::progress(chosen.len() as u64, "replayed"));
    for (letter, record) in &chosen {
        infra.producer.send(record).await?;
        dlt_replays::record(
            &infra.pool,
            &topic,
            letter.partition,
            letter.offset,
            &record.topic,
        )
        .await?;
        report.replayed += 1;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

/// The physical DLT named by `given`: logical (`payment.success`,
/// `payment.success.DLT`) or already carrying the topic prefix.
pub fn dlt_topic(names: &TopicNames, given: &str) -> String {
    let prefixed = !names.physical("").is_empty() && names.logical(given).is_some();
    let physical = if prefixed {
        given.to_owned()
    } else {
        names.physical(given)
    };
    if TopicNames::is_dead_letter(&physical) {
        physical
    } else {
        names.dead_letter(&physical)
    }
}

/// `--since`: an RFC 3339 time, or a span back from now (`90s`, `15m`, `2h`, `1d`).
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if seconds > 0 && n >= 0 => Ok(Utc::now() - chrono::Duration::seconds(n * seconds)),
        _ => Err(format!(
            "`{text}` is neither an RFC 3339 time nor a span like 90s, 15m, 2h or 1d"
        )),
    }
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(DateTime::from_timestamp_millis)
        .map_or("-".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
}

fn print_list(names: &TopicNames, summaries: &[DltSummary]) {
    if summaries.is_empty() {
        println!("no dead letters");
        return;
    }
    println!(
        "{:<36} {:>7} {:>8}  {:<23}  {:<23}  groups",
        "dead-letter topic", "letters", "replayed", "oldest", "newest"
    );
    for s in summaries {
        let groups: Vec<String> = s.groups.iter().map(|(g, n)| format!("{g} ({n})")).collect();
        println!(
            "{:<36} {:>7} {:>8}  {:<23}  {:<23}  {}",
            names.logical(&s.topic).unwrap_or(&s.topic),
            s.letters,
            s.replayed,
            when(s.oldest_ms),
            when(s.newest_ms),
            groups.join(", ")
        );
    }
}

fn print_letter(letter: &DeadLetter, replayed: bool) {
    let (fqcn, message, stacktrace) = letter.exception();
    println!(
        "\n{}  dead-lettered {}",
        letter.position(),
        when(letter.timestamp_ms)
    );
    println!(
        "  original   {} / partition {} / offset {} ({})",
        letter.original_topic().unwrap_or_else(|| "?".into()),
        letter
            .original_partition()
            .map_or("?".into(), |p| p.to_string()),
        letter
            .original_offset()
            .map_or("?".into(), |o| o.to_string()),
        when(letter.original_timestamp_ms())
    );
    println!(
        "  group      {}",
        letter.consumer_group().unwrap_or_else(|| "?".into())
    );
    println!(
        "  error      {}: {}",
        fqcn.unwrap_or_else(|| "?".into()),
        message.unwrap_or_default()
    );
    for cause in stacktrace
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| !l.trim().is_empty())
        .skip(1)
        .take(5)
    {
        println!("             {}", cause.trim());
    }
    let key = letter
        .key
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    println!("  key        {key}");
    println!("  replayed   {}", if replayed { "yes" } else { "no" });
    let payload = serde_json::from_slice::<serde_json::Value>(&letter.payload)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        .unwrap_or_else(|_| String::from_utf8_lossy(&letter.payload).into_owned());
    for line in payload.lines() {
        println!("  | {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dlt_is_named_with_or_without_suffix_and_prefix() {
        let mut kafka = crate::configuration::Settings::load(None).unwrap().kafka;
        kafka.topic_prefix = "t1.".into();
        let names = TopicNames::new(&kafka);
        for given in [
            "payment.success",
            "payment.success.DLT",
            "t1.payment.success.DLT",
            "t1.payment.success",
        ] {
            assert_eq!(
                dlt_topic(&names, given),
                "t1.payment.success.DLT",
                "{given}"
            );
        }
        kafka.topic_prefix = String::new();
        let names = TopicNames::new(&kafka);
        assert_eq!(dlt_topic(&names, "payment.success"), "payment.success.DLT");
        assert_eq!(
            dlt_topic(&names, "payment.success.DLT"),
            "payment.success.DLT"
        );
    }

    #[test]
    fn since_takes_times_and_spans() {
        let at = parse_since("2026-11-25T10:00:00Z").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        let hour_ago = parse_since("1h").unwrap();
        let drift = (Utc::now() - chrono::Duration::hours(1) - hour_ago)
            .num_seconds()
            .abs();
        assert!(drift <= 1);
        assert!(parse_since("15m").is_ok() && parse_since("1d").is_ok());
        for bad in ["", "h", "-1h", "3 weeks", "10y"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
