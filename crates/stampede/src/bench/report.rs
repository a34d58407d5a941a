//! One shape for every benchmark's result.
//!
//! This box runs the client, the databases and the brokers together and its
//! speed varies several times from day to day, so an absolute figure says
//! little on its own. Every benchmark therefore measures its own ceiling in
//! the same run (a bare handler, the raw producer, a bare transaction) and
//! states its goals as ratios to it. A [`Report`] carries:
//!
//! - `figures`: what Stampede did (requests/s, latencies, seconds);
//! - `ceilings`: what the bare operation did in the same run;
//! - `ratios`: figure ÷ ceiling;
//! - `goals`: each goal, on a ratio or a figure, and whether it was met
//!   (informational: a slow day is not a failure);
//! - `checks`: correctness (exactly the stock issued, money conserved …).
//!   A failed check makes the command exit non-zero.
//!
//! `--json` prints the report as it is; without it the benchmark's table is
//! printed, followed by the goals and checks.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct Report {
    pub bench: &'static str,
    /// What the run was asked to do (counts, concurrency, delays).
    pub setup: BTreeMap<&'static str, serde_json::Value>,
    pub figures: BTreeMap<String, f64>,
    pub ceilings: BTreeMap<String, f64>,
    pub ratios: BTreeMap<String, f64>,
    pub goals: Vec<GoalResult>,
    pub checks: BTreeMap<String, bool>,
    /// The human-readable table, printed without `--json`.
    #[serde(skip)]
    pub table: String,
}

/// A goal on one of the report's ratios or figures.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met_by(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(bound) => value >= bound,
            Goal::AtMost(bound) => value <= bound,
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Goal::AtLeast(bound) => write!(f, "≥ {bound}"),
            Goal::AtMost(bound) => write!(f, "≤ {bound}"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GoalResult {
    /// The name of the ratio or figure the goal is on.
    pub on: String,
    pub value: f64,
    pub goal: Goal,
    pub met: bool,
}

impl Report {
    pub fn new(bench: &'static str) -> Self {
        Report {
            bench,
            setup: BTreeMap::new(),
            figures: BTreeMap::new(),
            ceilings: BTreeMap::new(),
            ratios: BTreeMap::new(),
            goals: Vec::new(),
            checks: BTreeMap::new(),
            table: String::new(),
        }
    }

    pub fn setup(&mut self, name: &'static str, value: impl Serialize) -> &mut Self {
        self.setup.insert(
            name,
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
        self
    }

    pub fn figure(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.figures.insert(name.into(), value);
        self
    }

    pub fn ceiling(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.ceilings.insert(name.into(), value);
        self
    }

    /// Records `numerator ÷ denominator` as the ratio `name`; its value.
    pub fn ratio(&mut self, name: impl Into<String>, numerator: f64, denominator: f64) -> f64 {
        let value = quotient(numerator, denominator);
        self.ratios.insert(name.into(), value);
        value
    }

    /// Records the median over rounds of `numerator ÷ denominator` as the
    /// ratio `name` and, for more than one round, the lowest and the
    /// highest round's as `name_lowest_round` and `name_highest_round`;
    /// the median.
    pub fn ratio_of_rounds(&mut self, name: &str, rounds: &[(f64, f64)]) -> f64 {
        let each: Vec<f64> = rounds.iter().map(|&(n, d)| quotient(n, d)).collect();
        let middle = median(each.iter().copied());
        self.ratios.insert(name.to_owned(), middle);
        if each.len() > 1 {
            let lowest = each.iter().copied().fold(f64::INFINITY, f64::min);
            let highest = each.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            self.ratios.insert(format!("{name}_lowest_round"), lowest);
            self.ratios.insert(format!("{name}_highest_round"), highest);
        }
        middle
    }

    pub fn has_figure(&self, name: &str) -> bool {
        self.figures.contains_key(name)
    }

    /// A goal on the ratio or figure `on` (which must be recorded already).
    pub fn goal(&mut self, on: &str, goal: Goal) -> &mut Self {
        let value = self
            .ratios
            .get(on)
            .or_else(|| self.figures.get(on))
            .copied()
            .unwrap_or(f64::NAN);
        self.goals.push(GoalResult {
            on: on.to_owned(),
            value,
            goal,
            met: goal.met_by(value),
        });
        self
    }

    pub fn check(&mut self, name: impl Into<String>, passed: bool) -> &mut Self {
        self.checks.insert(name.into(), passed);
        self
    }

    /// Appends one line to the human-readable table.
    pub fn line(&mut self, line: impl AsRef<str>) -> &mut Self {
        self.table.push_str(line.as_ref());
        self.table.push('\n');
        self
    }

    pub fn passed(&self) -> bool {
        self.checks.values().all(|passed| *passed)
    }

    /// The table, then the ratios, the goals and the checks, for a terminal.
    pub fn render(&self) -> String {
        let verdict = |goal: &GoalResult| {
            format!(
                "(goal {}: {})",
                goal.goal,
                if goal.met { "met" } else { "NOT met" }
            )
        };
        let mut out = self.table.clone();
        for (name, value) in &self.ratios {
            let goal = self.goals.iter().find(|g| &g.on == name);
            out.push_str(&format!(
                "  ratio {name:<34} {value:>9.2}×  {}\n",
                goal.map(verdict).unwrap_or_default()
            ));
        }
        for goal in self
            .goals
            .iter()
            .filter(|g| !self.ratios.contains_key(&g.on))
        {
            out.push_str(&format!(
                "  figure {:<33} {:>9.2}   {}\n",
                goal.on,
                goal.value,
                verdict(goal)
            ));
        }
        for (name, passed) in &self.checks {
            out.push_str(&format!(
                "  check {name:<34} {}\n",
                if *passed { "ok" } else { "FAILED" }
            ));
        }
        out
    }
}

/// `numerator ÷ denominator`, 0 over nothing (a ceiling that did not run
/// is no reason for an infinite ratio).
fn quotient(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// The median of `values` (the mean of the middle two for an even count);
/// NaN for none.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Prints `reports` as JSON (one object, or an array for several) or as
/// tables, and fails when any correctness check failed.
pub fn print(reports: &[Report], json: bool) -> anyhow::Result<()> {
    if json {
        let text = match reports {
            [one] => serde_json::to_string_pretty(one)?,
            many => serde_json::to_string_pretty(many)?,
        };
        println!("{text}");
    } else {
        for report in reports {
            println!("\n{}", report.render());
        }
    }
    if reports.iter().all(Report::passed) {
        return Ok(());
    }
    let failed: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .filter(|(_, passed)| !**passed)
                .map(move |(name, _)| format!("{}: {name}", r.bench))
        })
        .collect();
    anyhow::bail!("correctness checks failed: {}", failed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goal_reads_the_ratio_or_the_figure_it_names() {
        let mut report = Report::new("t");
        report.ratio("gate ÷ ceiling", 70.0, 100.0);
        report.figure("p99 ms", 60.0);
        report
            .goal("gate ÷ ceiling", Goal::AtLeast(0.7))
            .goal("p99 ms", Goal::AtMost(50.0));
        assert!(report.goals[0].met);
        assert!(!report.goals[1].met);
        assert!(report.passed(), "an unmet goal is not a failed check");
    }

    #[test]
    fn a_failed_check_fails_the_report_and_print() {
        let mut report = Report::new("t");
        report.check("exact", true).check("conserved", false);
        assert!(!report.passed());
        let error = print(&[report], true).unwrap_err().to_string();
        assert!(error.contains("t: conserved"), "{error}");
    }

    #[test]
    fn a_ratio_of_rounds_is_the_median_rounds_beside_the_lowest_and_highest() {
        let mut report = Report::new("t");
        let median = report.ratio_of_rounds("r", &[(60.0, 100.0), (45.0, 100.0), (83.0, 100.0)]);
        assert_eq!(median, 0.6);
        assert_eq!(report.ratios["r"], 0.6);
        assert_eq!(report.ratios["r_lowest_round"], 0.45);
        assert_eq!(report.ratios["r_highest_round"], 0.83);
        let mut one = Report::new("t");
        one.ratio_of_rounds("r", &[(1.0, 2.0)]);
        assert_eq!(one.ratios.len(), 1, "one round has no spread to show");
        assert_eq!(super::median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert!(super::median(std::iter::empty()).is_nan());
    }

    #[test]
    fn a_ratio_over_nothing_is_zero_not_infinite() {
        let mut report = Report::new("t");
        assert_eq!(report.ratio("r", 5.0, 0.0), 0.0);
    }

    #[test]
    fn the_json_shape_has_the_five_sections() {
        let mut report = Report::new("t");
        report
            .setup("requests", 10)
            .figure("f", 1.0)
            .ceiling("c", 2.0);
        report.ratio("r", 1.0, 2.0);
        report.check("ok", true);
        let json = serde_json::to_value(&report).unwrap();
        for key in ["figures", "ceilings", "ratios", "goals", "checks", "setup"] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert!(json.get("table").is_none());
    }
}
