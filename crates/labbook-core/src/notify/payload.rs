//! What an alert says, and the bodies webhooks and commands are given.

use serde_json::json;

use super::Form;

/// One alert to deliver.
#[derive(Clone, Debug)]
pub(crate) struct Notice {
    pub title: String,
    pub text: String,
    /// `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The built-in rule that raised it, if one did: `nonfinite`, `stall`, `end`.
    pub rule: Option<&'static str>,
    pub run_id: String,
    pub run_name: String,
    pub project: String,
    pub entity: String,
    /// Seconds since the epoch.
    pub unix: f64,
}

impl Notice {
    /// The JSON form: every field by name.
    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "title": self.title,
            "text": self.text,
            "level": self.level,
            "rule": self.rule,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "project": self.project,
            "entity": self.entity,
            "timestamp": self.unix,
        })
    }

    /// The body a webhook of `form` is sent.
    pub(crate) fn body(&self, form: Form) -> serde_json::Value {
        match form {
            Form::Json => self.json(),
            Form::Slack => {
                let icon = match self.level.as_str() {
                    "ERROR" => ":red_circle:",
                    "WARN" => ":warning:",
                    _ => ":information_source:",
                };
                let who = if self.run_name.is_empty() {
                    self.run_id.clone()
                } else {
                    format!("{} ({})", self.run_name, self.run_id)
                };
                json!({
                    "text": format!("{icon} *{}*\n{}\n_run {who} in {}_", self.title, self.text, self.project),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            title: "loss is NaN".into(),
            text: "at step 7".into(),
            level: "WARN".into(),
            rule: Some("nonfinite"),
            run_id: "ab12".into(),
            run_name: "resnet".into(),
            project: "p".into(),
            entity: String::new(),
            unix: 1.7e9,
        }
    }

    #[test]
    fn slack_gets_text_and_json_gets_every_field() {
        let n = notice();
        let slack = n.body(Form::Slack);
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("*loss is NaN*") && text.contains("resnet (ab12)"),
            "{text}"
        );
        assert_eq!(slack.as_object().unwrap().len(), 1);
        let j = n.body(Form::Json);
        assert_eq!(
            (j["rule"].as_str(), j["run_id"].as_str()),
            (Some("nonfinite"), Some("ab12"))
        );
    }
}
