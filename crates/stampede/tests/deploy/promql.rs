//! A small PromQL reader: enough to find the metric names and label names
//! an expression uses, not to evaluate it.

/// Aggregation operators: `op [by|without (labels)] (args) [by|without (labels)]`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Prometheus functions (an identifier followed by `(` must be one).
const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Keywords that stand between operands (`a and b`, `a > bool 1`,
/// `x offset 5m`) and literals spelled as identifiers.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "atan2", "offset", "inf", "nan",
];

/// Vector-matching modifiers; a label list may follow (`on (a, b)`).
const MATCHING: &[&str] = &["on", "ignoring", "group_left", "group_right"];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// Metric, label, function or keyword name.
    Ident(String),
    /// Number, duration (`5m`), string or Grafana variable (`$__interval`):
    /// an operand this reader never looks into.
    Literal,
    /// Operators and matcher operators (`=`, `=~`, `!=`, `!~`, `+`, `>` ...).
    Op(String),
    Comma,
    Open(char),
    Close(char),
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        i += 1;
        match c {
            c if c.is_whitespace() => {}
            // A comment runs to the end of the line.
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            // Numbers and durations: 0.99, 5m, 1h30m, 1e3, .5
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Literal);
            }
            // Grafana variables: `$__rate_interval`, `${consumer}`.
            '$' => {
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                }
                tokens.push(Token::Literal);
            }
            '"' | '\'' | '`' => {
                let quote = c;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string at {start}")),
                        Some('\\') if quote != '`' => i += 2,
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                tokens.push(Token::Literal);
            }
            '(' | '{' | '[' => tokens.push(Token::Open(c)),
            ')' | '}' | ']' => tokens.push(Token::Close(c)),
            ',' => tokens.push(Token::Comma),
            '=' | '!' | '~' | '<' | '>' | '+' | '-' | '*' | '/' | '^' | '%' | '@' => {
                while i < chars.len() && "=~".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Op(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected `{other}` at {start}")),
        }
    }
    Ok(tokens)
}

/// Tokens with their brackets matched: `(…)`, `{…}` and `[…]` become groups.
#[derive(Debug)]
enum Node {
    Token(Token),
    Group(char, Vec<Node>),
}

fn nest(tokens: Vec<Token>) -> Result<Vec<Node>, String> {
    let mut stack: Vec<(char, Vec<Node>)> = vec![(' ', Vec::new())];
    for token in tokens {
        match token {
            Token::Open(c) => stack.push((c, Vec::new())),
            Token::Close(c) => {
                let (open, nodes) = stack.pop().expect("the root is never popped");
                let expected = match open {
                    '(' => ')',
                    '{' => '}',
                    '[' => ']',
                    _ => return Err(format!("`{c}` closes nothing")),
                };
                if c != expected {
                    return Err(format!("`{open}` closed by `{c}`"));
                }
                stack
                    .last_mut()
                    .expect("the root stays")
                    .1
                    .push(Node::Group(open, nodes));
            }
            other => stack
                .last_mut()
                .expect("the root stays")
                .1
                .push(Node::Token(other)),
        }
    }
    match stack.pop() {
        Some((' ', nodes)) if stack.is_empty() => Ok(nodes),
        Some((open, _)) => Err(format!("`{open}` is never closed")),
        None => unreachable!(),
    }
}

/// A metric selector: `name{label op "value", ...}`.
#[derive(Debug, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matcher_labels: Vec<String>,
}

/// `by`/`without (labels)` and the metrics of the aggregated expression.
#[derive(Debug, PartialEq)]
pub struct Grouping {
    pub labels: Vec<String>,
    pub metrics: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Analysis {
    pub selectors: Vec<Selector>,
    pub groupings: Vec<Grouping>,
}

impl Analysis {
    pub fn metric_names(&self) -> Vec<&str> {
        self.selectors.iter().map(|s| s.name.as_str()).collect()
    }
}

pub fn analyse(expr: &str) -> Result<Analysis, String> {
    let nodes = nest(tokenize(expr)?)?;
    let mut analysis = Analysis::default();
    walk(&nodes, &mut analysis)?;
    if analysis.selectors.is_empty() {
        return Err("no metric selector".to_owned());
    }
    Ok(analysis)
}

/// `(a, b, c)`: a list of label names.
fn label_list(node: Option<&Node>) -> Result<Vec<String>, String> {
    let Some(Node::Group('(', items)) = node else {
        return Err("`by`/`without`/`on` needs a (label, ...) list".to_owned());
    };
    let mut labels = Vec::new();
    for item in items {
        match item {
            Node::Token(Token::Ident(label)) => labels.push(label.clone()),
            Node::Token(Token::Comma) => {}
            other => return Err(format!("unexpected {other:?} in a label list")),
        }
    }
    Ok(labels)
}

/// `{label op "value", ...}`: the label names.
fn matcher_labels(items: &[Node]) -> Result<Vec<String>, String> {
    let mut labels = Vec::new();
    for matcher in items.split(|n| matches!(n, Node::Token(Token::Comma))) {
        match matcher {
            [] => {} // a trailing comma
            [Node::Token(Token::Ident(label)), Node::Token(Token::Op(op)), Node::Token(Token::Literal)]
                if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
            {
                labels.push(label.clone())
            }
            other => return Err(format!("bad label matcher {other:?}")),
        }
    }
    Ok(labels)
}

fn is_grouping_keyword(node: Option<&Node>) -> bool {
    matches!(node, Some(Node::Token(Token::Ident(w))) if w == "by" || w == "without")
}

/// Records the selectors and groupings of `nodes`; returns the metric
/// names found, so an enclosing aggregation can check its labels.
fn walk(nodes: &[Node], out: &mut Analysis) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        match &nodes[i] {
            Node::Group('(', inner) => {
                found.extend(walk(inner, out)?);
                i += 1;
            }
            // A range or subquery duration: `[5m]`, `[1h:1m]`.
            Node::Group('[', _) => i += 1,
            Node::Group(_, _) => {
                return Err("a selector without a metric name".to_owned());
            }
            Node::Token(Token::Ident(word)) => {
                let lower = word.to_ascii_lowercase();
                let next = nodes.get(i + 1);
                if AGGREGATIONS.contains(&word.as_str())
                    && (matches!(next, Some(Node::Group('(', _))) || is_grouping_keyword(next))
                {
                    let mut j = i + 1;
                    let mut labels = None;
                    if is_grouping_keyword(nodes.get(j)) {
                        labels = Some(label_list(nodes.get(j + 1))?);
                        j += 2;
                    }
                    let Some(Node::Group('(', args)) = nodes.get(j) else {
                        return Err(format!("`{word}` without (arguments)"));
                    };
                    let metrics = walk(args, out)?;
                    j += 1;
                    if labels.is_none() && is_grouping_keyword(nodes.get(j)) {
                        labels = Some(label_list(nodes.get(j + 1))?);
                        j += 2;
                    }
                    if let Some(labels) = labels {
                        out.groupings.push(Grouping {
                            labels,
                            metrics: metrics.clone(),
                        });
                    }
                    found.extend(metrics);
                    i = j;
                } else if let Some(Node::Group('(', args)) = next.filter(|_| {
                    !MATCHING.contains(&word.as_str()) && !KEYWORDS.contains(&lower.as_str())
                }) {
                    if !FUNCTIONS.contains(&word.as_str()) {
                        return Err(format!("unknown function `{word}`"));
                    }
                    found.extend(walk(args, out)?);
                    i += 2;
                } else if MATCHING.contains(&word.as_str()) {
                    // `on (a, b)`: labels of the binary operation, not checked.
                    i += if matches!(next, Some(Node::Group('(', _))) {
                        2
                    } else {
                        1
                    };
                } else if KEYWORDS.contains(&lower.as_str()) {
                    i += 1;
                } else if word == "by" || word == "without" {
                    return Err(format!("`{word}` outside an aggregation"));
                } else {
                    // A metric name, perhaps with matchers.
                    let mut selector = Selector {
                        name: word.clone(),
                        matcher_labels: Vec::new(),
                    };
                    i += 1;
                    if let Some(Node::Group('{', matchers)) = nodes.get(i) {
                        selector.matcher_labels = matcher_labels(matchers)?;
                        i += 1;
                    }
                    found.push(selector.name.clone());
                    out.selectors.push(selector);
                }
            }
            Node::Token(_) => i += 1,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        analyse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .metric_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn finds_metric_names_not_functions_labels_or_durations() {
        assert_eq!(
            names("sum by (route) (rate(stampede_http_requests_total[1m]))"),
            ["stampede_http_requests_total"]
        );
        assert_eq!(
            names(
                "histogram_quantile(0.99, sum by (le, route) \
                 (rate(stampede_http_request_duration_seconds_bucket[5m])))"
            ),
            ["stampede_http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            names(
                "sum(rate(a_total{status=~\"5..\"}[5m])) / sum(rate(a_total[5m])) \
                 > bool 0.01 or vector(0)"
            ),
            ["a_total", "a_total"]
        );
        assert_eq!(
            names("redis_memory_used_bytes / 1048576 + on (instance) group_left up"),
            ["redis_memory_used_bytes", "up"]
        );
        assert_eq!(names("x offset 5m"), ["x"]);
        assert_eq!(names("rate(x[$__rate_interval])"), ["x"]);
        assert_eq!(
            names("sum(kafka_topic_partition_current_offset{topic!~\".*[.]DLT\"}) by (topic)"),
            ["kafka_topic_partition_current_offset"]
        );
    }

    #[test]
    fn records_matchers_and_groupings() {
        let analysis = analyse(
            "sum by (consumer, group) (stampede_consumer_lag{topic=\"t\", partition!=\"0\",}) \
             / sum(rate(b[1m])) without (instance)",
        )
        .unwrap();
        assert_eq!(
            analysis.selectors[0],
            Selector {
                name: "stampede_consumer_lag".into(),
                matcher_labels: vec!["topic".into(), "partition".into()],
            }
        );
        assert_eq!(
            analysis.groupings,
            [
                Grouping {
                    labels: vec!["consumer".into(), "group".into()],
                    metrics: vec!["stampede_consumer_lag".into()],
                },
                Grouping {
                    labels: vec!["instance".into()],
                    metrics: vec!["b".into()],
                },
            ]
        );
        // A string with an escaped quote and a brace stays one literal.
        let analysis = analyse(r#"x{a="say \"}\""}"#).unwrap();
        assert_eq!(analysis.selectors[0].matcher_labels, ["a"]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(analyse("rat(x[1m])")
            .unwrap_err()
            .contains("unknown function"));
        assert!(analyse("sum(rate(x[1m])").is_err());
        assert!(analyse("{__name__=\"x\"}").is_err());
        assert!(analyse("x{a}").is_err());
        assert!(analyse("vector(1)").is_err());
        assert!(analyse("by (a) x").is_err());
    }
}
