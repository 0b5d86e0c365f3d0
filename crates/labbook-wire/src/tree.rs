//! A run's summary or config as its log leaves it: records set and remove items at nested
//! paths, and the tree keeps each leaf as the JSON text the log holds (NaN and Infinity
//! included), so what is shown, uploaded or compared is byte for byte what was logged.

use crate::proto;

/// A JSON object folded from summary or config items: keys in first-set order, leaves as
/// raw JSON text.
///
/// ```
/// use labbook_wire::Tree;
/// let mut t = Tree::default();
/// t.set(&["loss"], "0.5");
/// t.set(&["val", "acc"], "NaN");
/// assert_eq!(t.to_json(), r#"{"loss":0.5,"val":{"acc":NaN}}"#);
/// assert_eq!(t.get(&["val", "acc"]), Some("NaN"));
/// t.remove(&["val"]);
/// assert_eq!(t.to_json(), r#"{"loss":0.5}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree(Vec<(String, Node)>);

/// A value in a [`Tree`]: a leaf's JSON text, or an object of its own.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// JSON text as the log holds it.
    Raw(String),
    /// An object built from nested paths.
    Obj(Tree),
}

impl Tree {
    /// Sets `path` to `raw`, creating objects on the way. A leaf on the way that holds a
    /// JSON object becomes a tree of its members (so `_wandb.visualize.x` joins the
    /// `_wandb` object the run record set, as W&B merges it); any other leaf on the way is
    /// replaced.
    ///
    /// ```
    /// let mut t = labbook_wire::Tree::default();
    /// t.set(&["_wandb"], r#"{"labbook": {"version": "0.1"}}"#);
    /// t.set(&["_wandb", "visualize", "pr"], "{}");
    /// assert_eq!(t.to_json(), r#"{"_wandb":{"labbook":{"version": "0.1"},"visualize":{"pr":{}}}}"#);
    /// ```
    pub fn set(&mut self, path: &[&str], raw: &str) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let slot = match self.0.iter().position(|(k, _)| k == first) {
            Some(i) => &mut self.0[i].1,
            None => {
                self.0
                    .push(((*first).to_owned(), Node::Obj(Tree::default())));
                let last = self.0.len() - 1;
                &mut self.0[last].1
            }
        };
        if rest.is_empty() {
            *slot = Node::Raw(raw.to_owned());
            return;
        }
        if let Node::Raw(text) = slot {
            *slot = Node::Obj(Tree::of_object(text).unwrap_or_default());
        }
        if let Node::Obj(t) = slot {
            t.set(rest, raw);
        }
    }

    /// The members of a JSON object's text as a tree of raw leaves; `None` when the text is
    /// not one object.
    fn of_object(text: &str) -> Option<Tree> {
        let members = object_members(text)?;
        let mut tree = Tree::default();
        for (k, v) in members {
            tree.set(&[k.as_str()], v);
        }
        Some(tree)
    }

    /// Removes `path` if present.
    pub fn remove(&mut self, path: &[&str]) {
        match path {
            [] => {}
            [last] => self.0.retain(|(k, _)| k != last),
            [first, rest @ ..] => {
                if let Some((_, Node::Obj(t))) = self.0.iter_mut().find(|(k, _)| k == first) {
                    t.remove(rest);
                }
            }
        }
    }

    /// The JSON text of the leaf at `path`; `None` when there is none or it is an object.
    pub fn get(&self, path: &[&str]) -> Option<&str> {
        match self.node(path)? {
            Node::Raw(raw) => Some(raw),
            Node::Obj(_) => None,
        }
    }

    /// The node at `path`, leaf or object.
    pub fn node(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let (_, node) = self.0.iter().find(|(k, _)| k == first)?;
        match (node, rest) {
            (node, []) => Some(node),
            (Node::Obj(t), rest) => t.node(rest),
            (Node::Raw(_), _) => None,
        }
    }

    /// The top-level entries, in first-set order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.0.iter().map(|(k, n)| (k.as_str(), n))
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every leaf with its path joined by `.`, depth first in first-set order.
    ///
    /// ```
    /// let mut t = labbook_wire::Tree::default();
    /// t.set(&["a", "b"], "1");
    /// t.set(&["c"], "\"x\"");
    /// let leaves: Vec<(String, &str)> = t.leaves().collect();
    /// assert_eq!(leaves, [("a.b".to_owned(), "1"), ("c".to_owned(), "\"x\"")]);
    /// ```
    pub fn leaves(&self) -> impl Iterator<Item = (String, &str)> {
        let mut out = Vec::new();
        self.collect_leaves("", &mut out);
        out.into_iter()
    }

    fn collect_leaves<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a str)>) {
        for (k, n) in &self.0 {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match n {
                Node::Raw(raw) => out.push((path, raw)),
                Node::Obj(t) => t.collect_leaves(&path, out),
            }
        }
    }

    /// Wraps every top-level value as `{"value": v}` (W&B's config shape).
    pub fn as_config(&self) -> Tree {
        Tree(
            self.0
                .iter()
                .map(|(k, n)| {
                    (
                        k.clone(),
                        Node::Obj(Tree(vec![("value".to_owned(), n.clone())])),
                    )
                })
                .collect(),
        )
    }

    /// The tree as JSON text, leaves as written.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('{');
        for (i, (k, n)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| "\"\"".into()));
            out.push(':');
            match n {
                Node::Raw(r) => out.push_str(r),
                Node::Obj(t) => t.write(out),
            }
        }
        out.push('}');
    }

    /// Applies a summary record's updates, then its removals.
    pub fn apply_summary(&mut self, rec: &proto::SummaryRecord) {
        self.apply_items(&rec.update, &rec.remove);
    }

    /// Applies a config record's updates, then its removals.
    pub fn apply_config(&mut self, rec: &proto::ConfigRecord) {
        self.apply_items(&rec.update, &rec.remove);
    }

    fn apply_items(&mut self, update: &[proto::SummaryItem], remove: &[proto::SummaryItem]) {
        for item in update {
            self.set(&item_path(&item.key, &item.nested_key), &item.value_json);
        }
        for item in remove {
            self.remove(&item_path(&item.key, &item.nested_key));
        }
    }
}

impl Node {
    /// The node as JSON text (an object's leaves as written).
    pub fn to_json(&self) -> String {
        match self {
            Node::Raw(raw) => raw.clone(),
            Node::Obj(t) => t.to_json(),
        }
    }
}

/// Splits the text of one JSON object (W&B's dialect: bare `NaN` and `Infinity` allowed)
/// into its members' keys and raw value texts, each kept as written.
fn object_members(text: &str) -> Option<Vec<(String, &str)>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut members = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let key_len = string_len(rest)?;
        let key: String = serde_json::from_str(&rest[..key_len]).ok()?;
        rest = rest[key_len..].trim_start().strip_prefix(':')?;
        let value_len = value_len(rest)?;
        let value = rest[..value_len].trim();
        // Only a value that parses is a member (this path is rare: a nested set under a leaf).
        crate::json::parse(value).ok()?;
        members.push((key, value));
        rest = rest[value_len..].trim_start();
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(members)
}

/// The length of the JSON string `s` starts with, quotes included.
fn string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The length of the JSON value `s` starts with: up to the `,` or end of text outside any
/// string, array or object.
fn value_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i += string_len(&s[i..])?,
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            b',' if depth == 0 => return Some(i),
            _ => i += 1,
        }
    }
    (depth == 0).then_some(i)
}

/// The path of a history, summary or config item: its nested key if it has one, else its
/// key. An item nested deeper than [`MAX_NESTED_KEY`](crate::MAX_NESTED_KEY) has none (a
/// reader skips it: setting an empty path does nothing).
///
/// ```
/// use labbook_wire::item_path;
/// assert_eq!(item_path("loss", &[]), ["loss"]);
/// assert_eq!(item_path("", &["val".into(), "acc".into()]), ["val", "acc"]);
/// ```
pub fn item_path<'a>(key: &'a str, nested: &'a [String]) -> Vec<&'a str> {
    if nested.is_empty() {
        vec![key]
    } else if nested.len() > crate::MAX_NESTED_KEY {
        Vec::new()
    } else {
        nested.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_nest_replace_and_remove() {
        let mut t = Tree::default();
        t.set(&["a"], "1");
        t.set(&["b", "x"], "NaN");
        t.set(&["b", "y"], "\"s\"");
        t.set(&["a"], "2");
        assert_eq!(t.to_json(), r#"{"a":2,"b":{"x":NaN,"y":"s"}}"#);
        t.remove(&["b", "x"]);
        t.set(&["a", "deep"], "true");
        assert_eq!(t.to_json(), r#"{"a":{"deep":true},"b":{"y":"s"}}"#);
        assert_eq!(
            t.as_config().to_json(),
            r#"{"a":{"value":{"deep":true}},"b":{"value":{"y":"s"}}}"#
        );
    }

    #[test]
    fn a_nested_set_joins_an_object_leaf_and_keeps_its_members_text() {
        let mut t = Tree::default();
        t.set(
            &["_wandb"],
            r#" { "labbook" : {"v": [1, "a,}"]}, "x": NaN, "esc\"k": -Infinity } "#,
        );
        t.set(&["_wandb", "visualize", "lp"], "1");
        assert_eq!(
            t.to_json(),
            r#"{"_wandb":{"labbook":{"v": [1, "a,}"]},"x":NaN,"esc\"k":-Infinity,"visualize":{"lp":1}}}"#
        );
        // Not an object: replaced, as before.
        t.set(&["n"], "[1,2]");
        t.set(&["n", "a"], "2");
        assert_eq!(t.get(&["n", "a"]), Some("2"));
        for bad in [
            "{",
            "{\"a\"}",
            "{\"a\":1,,}",
            "{\"a\":]}",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(object_members(bad).is_none(), "{bad}");
        }
        assert_eq!(object_members("{}"), Some(vec![]));
    }

    #[test]
    fn a_path_through_a_leaf_or_deeper_than_readers_follow_finds_nothing() {
        let mut t = Tree::default();
        t.set(&["a"], "1");
        assert_eq!(t.get(&["a", "b"]), None);
        assert_eq!(t.get(&[]), None);
        let deep: Vec<String> = (0..=crate::MAX_NESTED_KEY).map(|i| i.to_string()).collect();
        t.set(&item_path("x", &deep), "2");
        assert_eq!(t.to_json(), r#"{"a":1}"#);
    }
}
