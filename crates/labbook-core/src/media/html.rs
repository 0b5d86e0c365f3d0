//! HTML snippets, written as files with W&B's stylesheet injected (as `wandb.Html` does).

use super::MediaContext;
use super::files::write_media;
use crate::value::Value;

const HEAD: &str = r#"<base target="_blank"><link rel="stylesheet" type="text/css" href="https://app.wandb.ai/normalize.css" />"#;

/// An HTML snippet or page, as W&B's `wandb.Html`.
///
/// ```
/// use labbook_core::media::Html;
/// let h = Html::new("<h1>Validation report</h1><p>all good</p>");
/// # let _ = h;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Html {
    html: String,
    inject: bool,
}

impl Html {
    /// HTML with W&B's base target and stylesheet injected into its head.
    pub fn new(html: impl Into<String>) -> Html {
        Html {
            html: html.into(),
            inject: true,
        }
    }

    /// HTML written exactly as given.
    pub fn raw(html: impl Into<String>) -> Html {
        Html {
            html: html.into(),
            inject: false,
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        self.html.len()
    }

    /// The text written: the head injected the way the official client injects it.
    fn text(&self) -> String {
        if !self.inject {
            return self.html.clone();
        }
        let h = &self.html;
        let joined = if let Some((a, b)) = h.split_once("<head>") {
            format!("{a}<head>{HEAD}{b}")
        } else if let Some((a, b)) = h.split_once("<html>") {
            format!("{a}<html><head>{HEAD}</head>{b}")
        } else {
            format!("{HEAD}{h}")
        };
        joined.trim().to_owned()
    }

    /// Writes the file; returns the `html-file` JSON.
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        let w = write_media(
            ctx.files_dir,
            "media/html",
            key,
            ctx.step,
            "html",
            self.text().as_bytes(),
        )?;
        ctx.written.push(w.path.clone());
        Ok(Value::Map(w.fields("html-file")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_injected_where_wandb_puts_it() {
        assert_eq!(Html::new("<p>x</p>").text(), format!("{HEAD}<p>x</p>"));
        assert_eq!(
            Html::new("<html><body/></html>").text(),
            format!("<html><head>{HEAD}</head><body/></html>")
        );
        assert_eq!(
            Html::new("<head><title>t</title></head>").text(),
            format!("<head>{HEAD}<title>t</title></head>")
        );
        assert_eq!(Html::raw("<p>x</p>").text(), "<p>x</p>");
    }
}
