//! `--where 'val/acc>0.9'`: conditions on summary metrics.

use anyhow::{Result, bail};
use serde_json::Value as J;

use crate::run_log::scalar_of;

/// A condition `key OP number` (OP one of `>`, `>=`, `<`, `<=`, `==`, `!=`), or `key=text`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    pub key: String,
    op: Op,
    value: J,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Condition {
    pub(crate) fn parse(text: &str) -> Result<Condition> {
        for (token, op) in [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ] {
            if let Some((k, v)) = text.split_once(token) {
                let key = k.trim();
                if key.is_empty() {
                    bail!("--where {text:?}: the metric name is missing before {token:?}");
                }
                let v = v.trim();
                let value = v
                    .parse::<f64>()
                    .map(J::from)
                    .unwrap_or_else(|_| J::String(v.to_owned()));
                if !value.is_number() && !matches!(op, Op::Eq | Op::Ne) {
                    bail!("--where {text:?}: {v:?} is not a number");
                }
                return Ok(Condition {
                    key: key.to_owned(),
                    op,
                    value,
                });
            }
        }
        bail!(
            "--where {text:?}: expected a condition like 'val/acc>0.9' (operators > >= < <= == !=)"
        )
    }

    /// Whether a run's summary value meets the condition (a missing value never does).
    pub(crate) fn matches(&self, v: Option<&J>) -> bool {
        let Some(v) = v else { return false };
        match (&self.value, scalar_of(v)) {
            (J::Number(n), Some(x)) => {
                let y = n.as_f64().unwrap_or(f64::NAN);
                match self.op {
                    Op::Gt => x > y,
                    Op::Ge => x >= y,
                    Op::Lt => x < y,
                    Op::Le => x <= y,
                    Op::Eq => x == y,
                    Op::Ne => x != y,
                }
            }
            (J::String(s), _) => {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                (text == *s) == (self.op == Op::Eq)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_match() {
        let c = Condition::parse("val/acc>0.9").unwrap();
        assert_eq!(c.key, "val/acc");
        assert!(c.matches(Some(&J::from(0.95))));
        assert!(!c.matches(Some(&J::from(0.9))));
        assert!(c.matches(Some(&serde_json::json!({"max": 0.97}))));
        assert!(!c.matches(None));
        assert!(
            Condition::parse("loss<=1e-3")
                .unwrap()
                .matches(Some(&J::from(0.001)))
        );
        assert!(
            Condition::parse("opt=adam")
                .unwrap()
                .matches(Some(&J::from("adam")))
        );
        assert!(Condition::parse(">3").is_err());
        assert!(Condition::parse("acc>high").is_err());
        assert!(Condition::parse("acc").is_err());
    }
}
