//! Which runs to read and in what order: a group, tags, a state and conditions on summary
//! and config values. Checked on a local run's values, and sent to a server as the
//! MongoDB-style `filters` and the `order` of W&B's `Runs` query.

use std::cmp::Ordering;

use serde_json::{Value as J, json};

use super::{RunInfo, RunState, number};
use crate::error::{Error, Result};

/// Where a condition's value is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A summary key (or dotted path).
    Summary(String),
    /// A config key (or dotted path).
    Config(String),
}

impl Field {
    /// `summary.KEY` or `config.KEY`; a bare key is a summary key.
    fn parse(text: &str) -> Field {
        if let Some(k) = text.strip_prefix("config.") {
            Field::Config(k.to_owned())
        } else {
            Field::Summary(text.strip_prefix("summary.").unwrap_or(text).to_owned())
        }
    }

    fn value<'a>(&self, run: &'a RunInfo) -> Option<&'a J> {
        match self {
            Field::Summary(k) => run.summary_value(k),
            Field::Config(k) => run.config_value(k),
        }
    }

    /// The path a W&B server filters and orders by.
    fn server_path(&self) -> String {
        match self {
            Field::Summary(k) => format!("summary_metrics.{k}"),
            // W&B wraps each top-level config key: `config.opt.value.name`.
            Field::Config(k) => match k.split_once('.') {
                Some((top, rest)) => format!("config.{top}.value.{rest}"),
                None => format!("config.{k}.value"),
            },
        }
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn mongo(self) -> &'static str {
        match self {
            Op::Gt => "$gt",
            Op::Ge => "$gte",
            Op::Lt => "$lt",
            Op::Le => "$lte",
            Op::Eq => "$eq",
            Op::Ne => "$ne",
        }
    }
}

/// A condition on one value: `summary.val/acc>0.9`, `config.lr<=0.01`, `config.opt=adam`.
/// A missing value never meets one.
///
/// ```
/// use labbook_core::api::{Condition, Field, Op};
/// let c = Condition::parse("config.lr<=0.01")?;
/// assert_eq!((c.field, c.op, c.value), (Field::Config("lr".into()), Op::Le, serde_json::json!(0.01)));
/// assert!(Condition::parse("summary.acc>high").is_err());
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The value compared.
    pub field: Field,
    /// How.
    pub op: Op,
    /// With what: a number, or text for `=` and `!=`.
    pub value: J,
}

impl Condition {
    /// Parses `FIELD OP VALUE`; FIELD is `summary.KEY`, `config.KEY` or a bare summary
    /// key, OP one of `> >= < <= = == !=`.
    pub fn parse(text: &str) -> Result<Condition> {
        const OPS: [(&str, Op); 7] = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ];
        let bad = |why: String| Error::Read(format!("the condition {text:?} {why}"));
        let Some((token, op, at)) = OPS
            .iter()
            .filter_map(|&(t, op)| text.find(t).map(|at| (t, op, at)))
            .min_by_key(|&(t, _, at)| (at, std::cmp::Reverse(t.len())))
        else {
            return Err(bad(
                "has no comparison: write it like 'summary.val/acc>0.9' or 'config.lr=0.01' (> >= < <= = !=)".into(),
            ));
        };
        let key = text[..at].trim();
        let v = text[at + token.len()..].trim();
        if key.is_empty() || key == "summary." || key == "config." {
            return Err(bad(format!("names no key before {token:?}")));
        }
        let value = match v.parse::<f64>() {
            Ok(n) if n.is_finite() => J::from(n),
            _ if matches!(op, Op::Eq | Op::Ne) => {
                J::String(v.trim_matches(|c| c == '"' || c == '\'').to_owned())
            }
            _ => return Err(bad(format!("compares with {v:?}, which is not a number"))),
        };
        Ok(Condition {
            field: Field::parse(key),
            op,
            value,
        })
    }

    /// Whether the run's value meets the condition.
    pub fn matches(&self, run: &RunInfo) -> bool {
        self.test(self.field.value(run))
    }

    /// Whether a value (`None`: the run has none) meets the condition.
    ///
    /// ```
    /// let c = labbook_core::api::Condition::parse("acc>0.5")?;
    /// assert!(c.test(Some(&serde_json::json!({"max": 0.9, "last": 0.7}))));
    /// assert!(!c.test(None));
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn test(&self, value: Option<&J>) -> bool {
        let Some(v) = value else {
            return false;
        };
        let ord = match (&self.value, number(v)) {
            (J::Number(n), Some(x)) => x.partial_cmp(&n.as_f64().unwrap_or(f64::NAN)),
            (J::String(s), _) => {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                Some(text.cmp(s))
            }
            _ => None,
        };
        match (self.op, ord) {
            (Op::Ne, None) => true,
            (_, None) => false,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Ne, Some(o)) => o != Ordering::Equal,
        }
    }

    fn mongo(&self) -> J {
        let path = self.field.server_path();
        let mut test = json!({ path.clone(): { self.op.mongo(): self.value } });
        if self.op == Op::Ne {
            // A missing value meets no condition here; MongoDB's `$ne` would let it through.
            test = json!({"$and": [{ path: {"$exists": true} }, test]});
        }
        test
    }
}

/// What runs are ordered by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderBy {
    /// When each was created (a server's: when it first saw it).
    CreatedAt,
    /// When each last wrote.
    HeartbeatAt,
    /// A summary or config value (runs without one last).
    Value(Field),
}

/// An order of runs: by creation or last write, or by a summary or config value (runs
/// without one last).
///
/// ```
/// use labbook_core::api::Order;
/// assert_eq!(Order::parse("-summary.val/acc")?.to_server(), "-summary_metrics.val/acc");
/// assert_eq!(Order::parse("created_at")?.to_server(), "+created_at");
/// assert_eq!(Order::parse("-heartbeat_at")?.to_server(), "-heartbeat_at");
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// By what.
    pub by: OrderBy,
    /// Largest (or latest) first.
    pub descending: bool,
}

impl Order {
    /// `[+|-]created_at`, `[+|-]heartbeat_at`, `[+|-]summary.KEY`, `[+|-]config.KEY`
    /// (`-`: largest first).
    pub fn parse(text: &str) -> Result<Order> {
        let (descending, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let by = match rest {
            "" => {
                return Err(Error::Read(
                    "an empty order: give created_at, heartbeat_at, summary.KEY or config.KEY"
                        .into(),
                ));
            }
            "created_at" | "createdAt" => OrderBy::CreatedAt,
            "heartbeat_at" | "heartbeatAt" => OrderBy::HeartbeatAt,
            other => OrderBy::Value(Field::parse(other)),
        };
        Ok(Order { by, descending })
    }

    /// The order as W&B's `Runs` query takes it.
    pub fn to_server(&self) -> String {
        let sign = if self.descending { '-' } else { '+' };
        match &self.by {
            OrderBy::CreatedAt => format!("{sign}created_at"),
            OrderBy::HeartbeatAt => format!("{sign}heartbeat_at"),
            OrderBy::Value(f) => format!("{sign}{}", f.server_path()),
        }
    }

    fn compare(&self, a: &RunInfo, b: &RunInfo) -> Ordering {
        let key = |r: &RunInfo| match &self.by {
            OrderBy::CreatedAt => r.created_at,
            OrderBy::HeartbeatAt => r.heartbeat_at,
            OrderBy::Value(f) => f.value(r).and_then(number),
        };
        let o = match (key(a), key(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if self.descending { o.reverse() } else { o }
    }
}

/// Which runs, in what order.
///
/// ```
/// use labbook_core::api::Query;
/// let q = Query::new().project("me/mnist").group("ablation-1").tag("final").filter("summary.val/acc>0.9")?;
/// assert_eq!(q.project_path(), Some("me/mnist"));
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    project: Option<String>,
    group: Option<String>,
    tags: Vec<String>,
    state: Option<RunState>,
    conditions: Vec<Condition>,
    order: Option<Order>,
}

impl Query {
    /// Every run, by start time.
    pub fn new() -> Query {
        Query::default()
    }

    /// Only the project's runs: `entity/project` (a server needs it) or `project`.
    pub fn project(mut self, path: impl Into<String>) -> Query {
        self.project = Some(path.into());
        self
    }

    /// Only runs in this group.
    pub fn group(mut self, group: impl Into<String>) -> Query {
        self.group = Some(group.into());
        self
    }

    /// Only runs with this tag (each tag given must be there).
    pub fn tag(mut self, tag: impl Into<String>) -> Query {
        self.tags.push(tag.into());
        self
    }

    /// Only runs in this state.
    pub fn state(mut self, state: RunState) -> Query {
        self.state = Some(state);
        self
    }

    /// Only runs that meet a condition ([`Condition::parse`]); each condition given must
    /// hold.
    pub fn filter(mut self, condition: &str) -> Result<Query> {
        self.conditions.push(Condition::parse(condition)?);
        Ok(self)
    }

    /// Ordered by `order` ([`Order::parse`]).
    pub fn order(mut self, order: &str) -> Result<Query> {
        self.order = Some(Order::parse(order)?);
        Ok(self)
    }

    /// The project asked for.
    pub fn project_path(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The conditions, in the order given.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether a run passes (its project aside).
    pub fn matches(&self, run: &RunInfo) -> bool {
        self.group.as_ref().is_none_or(|g| run.group == *g)
            && self.tags.iter().all(|t| run.tags.contains(t))
            && self.state.is_none_or(|s| run.state == s)
            && self.conditions.iter().all(|c| c.matches(run))
    }

    /// Puts runs in the query's order (by start time when it has none); a stable sort.
    pub fn sort(&self, runs: &mut [RunInfo]) {
        let by_start = Order {
            by: OrderBy::CreatedAt,
            descending: false,
        };
        let order = self.order.as_ref().unwrap_or(&by_start);
        runs.sort_by(|a, b| order.compare(a, b));
    }

    /// The order as W&B's `Runs` query takes it.
    pub(crate) fn server_order(&self) -> String {
        self.order
            .as_ref()
            .map_or_else(|| "+created_at".to_owned(), Order::to_server)
    }

    /// The filters as W&B's `Runs` query takes them (MongoDB-style JSON).
    pub(crate) fn server_filters(&self) -> J {
        let mut all: Vec<J> = Vec::new();
        if let Some(g) = &self.group {
            all.push(json!({"group": g}));
        }
        for t in &self.tags {
            all.push(json!({"tags": {"$in": [t]}}));
        }
        if let Some(s) = self.state {
            all.push(json!({"state": s.as_str()}));
        }
        all.extend(self.conditions.iter().map(Condition::mongo));
        match all.len() {
            0 => json!({}),
            1 => all.remove(0),
            _ => json!({ "$and": all }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(acc: Option<f64>, lr: f64, group: &str) -> RunInfo {
        let mut r = RunInfo::empty("r");
        if let Some(a) = acc {
            r.summary.insert("val/acc".into(), json!(a));
        }
        r.config.insert("lr".into(), json!(lr));
        r.config.insert("opt".into(), json!("adam"));
        r.group = group.into();
        r
    }

    #[test]
    fn conditions_parse_and_match() {
        let r = run(Some(0.95), 0.01, "a");
        for (text, want) in [
            ("summary.val/acc>0.9", true),
            ("val/acc>0.95", false),
            ("val/acc>=0.95", true),
            ("config.lr<0.1", true),
            ("config.lr==0.01", true),
            ("config.lr!=0.01", false),
            ("config.opt=adam", true),
            ("config.opt!=sgd", true),
            ("config.missing!=1", false),
            ("summary.missing<1", false),
        ] {
            assert_eq!(Condition::parse(text).unwrap().matches(&r), want, "{text}");
        }
        for bad in ["val/acc", ">0.9", "summary.>1", "val/acc>fast", "x<NaN"] {
            let e = Condition::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn queries_match_sort_and_become_server_filters() {
        let q = Query::new()
            .group("a")
            .tag("t")
            .filter("summary.val/acc>0.9")
            .unwrap()
            .order("-summary.val/acc")
            .unwrap();
        let mut tagged = run(Some(0.95), 0.01, "a");
        tagged.tags.push("t".into());
        assert!(q.matches(&tagged));
        assert!(!q.matches(&run(Some(0.95), 0.01, "a")), "no tag");
        assert!(!q.matches(&run(Some(0.95), 0.01, "b")), "other group");
        assert_eq!(
            q.server_filters(),
            json!({"$and": [{"group": "a"}, {"tags": {"$in": ["t"]}}, {"summary_metrics.val/acc": {"$gt": 0.9}}]})
        );
        assert_eq!(q.server_order(), "-summary_metrics.val/acc");
        let mut runs = vec![
            run(None, 0.1, "a"),
            run(Some(0.5), 0.1, "a"),
            run(Some(0.9), 0.1, "a"),
        ];
        q.sort(&mut runs);
        let accs: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.summary_value("val/acc").and_then(number))
            .collect();
        assert_eq!(
            accs,
            [Some(0.9), Some(0.5), None],
            "largest first, missing last"
        );
        assert_eq!(Query::new().server_filters(), json!({}));
        assert_eq!(
            Condition::parse("config.lr!=1").unwrap().mongo(),
            json!({"$and": [{"config.lr.value": {"$exists": true}}, {"config.lr.value": {"$ne": 1.0}}]})
        );
    }

    #[test]
    fn orders_by_last_write_latest_first() {
        let mut runs: Vec<RunInfo> = [
            (Some(10.0), Some(50.0)),
            (Some(20.0), None),
            (Some(30.0), Some(40.0)),
        ]
        .into_iter()
        .map(|(created, beat)| {
            let mut r = RunInfo::empty("r");
            r.created_at = created;
            r.heartbeat_at = beat;
            r
        })
        .collect();
        let q = Query::new().order("-heartbeat_at").unwrap();
        assert_eq!(q.server_order(), "-heartbeat_at");
        q.sort(&mut runs);
        let beats: Vec<Option<f64>> = runs.iter().map(|r| r.heartbeat_at).collect();
        assert_eq!(
            beats,
            [Some(50.0), Some(40.0), None],
            "latest first, never written last"
        );
        assert!(
            Order::parse("-")
                .unwrap_err()
                .to_string()
                .contains("heartbeat_at")
        );
    }
}
