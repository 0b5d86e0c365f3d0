//! Turns any `serde::Serialize` into config values, field by field, so one odd field costs a
//! warning instead of the whole config; redacts secrets; applies `a.b=value` overrides.

use std::cell::RefCell;
use std::fmt::Display;
use std::path::Path;

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::error::{Error, Result};
use crate::value::Value;

/// A config serialized from user data, with what had to be skipped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Serialized {
    /// Top-level `(key, value)` pairs in serialization order.
    pub items: Vec<(String, Value)>,
    /// One line per skipped field, naming its path.
    pub warnings: Vec<String>,
}

/// Serializes `value` into config items. Never fails: a field serde cannot serialize is
/// skipped and named in `warnings`; a value that is not a map or struct is stored under
/// the key `value`.
pub(crate) fn serialize<T: Serialize + ?Sized>(value: &T) -> Serialized {
    let warnings = RefCell::new(Vec::new());
    let root = value.serialize(ValueSerializer {
        path: String::new(),
        depth: 0,
        warnings: &warnings,
    });
    let mut warnings = warnings.into_inner();
    let items = match root {
        Ok(Value::Map(items)) => items,
        Ok(Value::Null) => Vec::new(),
        Ok(other) => {
            warnings.push(
                "the config is not a struct or map; it was stored under the key `value`".into(),
            );
            vec![("value".to_owned(), other)]
        }
        Err(e) => {
            warnings.push(format!("the config could not be serialized: {e}"));
            Vec::new()
        }
    };
    Serialized { items, warnings }
}

/// Replaces every value whose key segment is a secret name with
/// [`REDACTED`](crate::value::secrets::REDACTED).
pub(crate) fn redact(items: &mut [(String, Value)]) {
    crate::value::secrets::Scrubber::default().config(items, true);
}

/// Sets `path` (dot-separated) in `items` to `value`, creating nested maps on the way.
pub(crate) fn set_path(items: &mut Vec<(String, Value)>, path: &[&str], value: Value) {
    if let Some(slot) = slot_at(items, path) {
        *slot = value;
    }
}

/// The value at `path`, created (null, inside new maps; a non-map on the way replaced by
/// a map) when missing. `None` for an empty path.
fn slot_at<'a>(items: &'a mut Vec<(String, Value)>, path: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let i = match items.iter().position(|(k, _)| k == first) {
        Some(i) => i,
        None => {
            items.push(((*first).to_owned(), Value::Null));
            items.len() - 1
        }
    };
    let slot = &mut items[i].1;
    if rest.is_empty() {
        return Some(slot);
    }
    if !matches!(slot, Value::Map(_)) {
        *slot = Value::Map(Vec::new());
    }
    match slot {
        Value::Map(inner) => slot_at(inner, rest),
        _ => None,
    }
}

/// Parses an override `a.b=value`: the value is JSON when it parses as JSON, else text.
pub(crate) fn parse_override(text: &str) -> Option<(Vec<String>, Value)> {
    let (path, raw) = text.split_once('=')?;
    let path: Vec<String> = path.trim().split('.').map(str::to_owned).collect();
    if path.iter().any(|p| p.is_empty()) {
        return None;
    }
    let raw = raw.trim();
    let value = serde_json::from_str::<serde_json::Value>(raw)
        .map(Value::from)
        .unwrap_or_else(|_| Value::Str(raw.to_owned()));
    Some((path, value))
}

/// Replaces top-level keys of `base` with those of `top`, keeping `base`'s order.
pub(crate) fn merge_top_level(base: &mut Vec<(String, Value)>, top: Vec<(String, Value)>) {
    for (k, v) in top {
        match base.iter_mut().find(|(bk, _)| *bk == k) {
            Some(slot) => slot.1 = v,
            None => base.push((k, v)),
        }
    }
}

/// Applies a sweep's parameters to the config. A dotted name (`model.layers`) sets that
/// nested field; a map value (a nested `parameters:` block) is merged into the map already
/// there, field by field, so fields the sweep does not touch are kept. Returns the dotted
/// parameters as the agent named them: the logged config keeps them under those names too,
/// as W&B's sweep controller matches runs on them.
pub(crate) fn apply_sweep_params(
    items: &mut Vec<(String, Value)>,
    params: Vec<(String, Value)>,
) -> Vec<(String, Value)> {
    let mut dotted = Vec::new();
    for (name, value) in params {
        let own_key = items.iter().any(|(k, _)| *k == name);
        if name.contains('.') && !own_key {
            let path: Vec<&str> = name.split('.').collect();
            merge_at(items, &path, value.clone());
            dotted.push((name, value));
        } else {
            merge_at(items, &[name.as_str()], value);
        }
    }
    dotted
}

/// Merges `value` into the item at `path`: maps field by field, anything else replaced.
fn merge_at(items: &mut Vec<(String, Value)>, path: &[&str], value: Value) {
    if let Some(slot) = slot_at(items, path) {
        merge_value(slot, value);
    }
}

fn merge_value(dst: &mut Value, src: Value) {
    match (dst, src) {
        (Value::Map(d), Value::Map(s)) => {
            for (k, v) in s {
                merge_at(d, &[k.as_str()], v);
            }
        }
        (dst, src) => *dst = src,
    }
}

#[derive(Debug)]
struct SerError(String);

impl Display for SerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

struct ValueSerializer<'w> {
    path: String,
    /// How deep in the config this value is.
    depth: usize,
    warnings: &'w RefCell<Vec<String>>,
}

impl<'w> ValueSerializer<'w> {
    fn child(&self, segment: &str) -> ValueSerializer<'w> {
        let path = if self.path.is_empty() {
            segment.to_owned()
        } else {
            format!("{}.{segment}", self.path)
        };
        ValueSerializer {
            path,
            depth: self.depth + 1,
            warnings: self.warnings,
        }
    }

    /// Serializes one field; a failure is recorded and the field left out, and so is a
    /// field nested deeper than any value may be (a config nested thousands deep would
    /// take the stack before it took the run).
    fn field<T: Serialize + ?Sized>(&self, segment: &str, value: &T) -> Option<Value> {
        if self.depth >= crate::value::MAX_DEPTH {
            self.warnings.borrow_mut().push(format!(
                "config field `{}` was left out: it nests deeper than {} levels",
                self.path,
                crate::value::MAX_DEPTH
            ));
            return None;
        }
        let child = self.child(segment);
        let path = child.path.clone();
        match value.serialize(child) {
            Ok(v) => Some(v),
            Err(e) => {
                self.warnings
                    .borrow_mut()
                    .push(format!("config field `{path}` was left out: {e}"));
                None
            }
        }
    }
}

struct SeqBuilder<'w> {
    parent: ValueSerializer<'w>,
    items: Vec<Value>,
    wrap: Option<&'static str>,
}

struct MapBuilder<'w> {
    parent: ValueSerializer<'w>,
    items: Vec<(String, Value)>,
    next_key: Option<String>,
    wrap: Option<&'static str>,
}

fn wrap(variant: Option<&'static str>, v: Value) -> Value {
    match variant {
        Some(name) => Value::Map(vec![(name.to_owned(), v)]),
        None => v,
    }
}

impl<'w> ser::Serializer for ValueSerializer<'w> {
    type Ok = Value;
    type Error = SerError;
    type SerializeSeq = SeqBuilder<'w>;
    type SerializeTuple = SeqBuilder<'w>;
    type SerializeTupleStruct = SeqBuilder<'w>;
    type SerializeTupleVariant = SeqBuilder<'w>;
    type SerializeMap = MapBuilder<'w>;
    type SerializeStruct = MapBuilder<'w>;
    type SerializeStructVariant = MapBuilder<'w>;

    fn serialize_bool(self, v: bool) -> Result<Value, SerError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, SerError> {
        i64::try_from(v)
            .map(Value::Int)
            .or_else(|_| u64::try_from(v).map(Value::UInt))
            .or(Ok(Value::Str(v.to_string())))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, SerError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, SerError> {
        u64::try_from(v)
            .map(Value::from)
            .or(Ok(Value::Str(v.to_string())))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, SerError> {
        Ok(Value::F32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, SerError> {
        Ok(Value::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, SerError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, SerError> {
        Ok(Value::List(v.iter().map(|&b| Value::from(b)).collect()))
    }
    fn serialize_none(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, SerError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, SerError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, SerError> {
        let inner = value.serialize(self.child(variant))?;
        Ok(wrap(Some(variant), inner))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder<'w>, SerError> {
        Ok(SeqBuilder {
            parent: self,
            items: Vec::with_capacity(len.unwrap_or(0)),
            wrap: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder<'w>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder<'w>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder<'w>, SerError> {
        Ok(SeqBuilder {
            parent: self,
            items: Vec::with_capacity(len),
            wrap: Some(variant),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder<'w>, SerError> {
        Ok(MapBuilder {
            parent: self,
            items: Vec::new(),
            next_key: None,
            wrap: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapBuilder<'w>, SerError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder<'w>, SerError> {
        Ok(MapBuilder {
            parent: self,
            items: Vec::new(),
            next_key: None,
            wrap: Some(variant),
        })
    }
}

impl ser::SerializeSeq for SeqBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let index = self.items.len().to_string();
        // A list element that fails becomes null, so the other indices keep their meaning.
        let v = self.parent.field(&index, value).unwrap_or(Value::Null);
        self.items.push(v);
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(wrap(self.wrap, Value::List(self.items)))
    }
}

impl ser::SerializeTuple for SeqBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for SeqBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for MapBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        // Non-string keys are stringified: text stays text, anything else becomes its JSON.
        let k = key.serialize(ValueSerializer {
            path: self.parent.path.clone(),
            depth: self.parent.depth,
            warnings: self.parent.warnings,
        })?;
        self.next_key = Some(match k {
            Value::Str(s) => s,
            other => {
                let json = other.to_json();
                json.trim_matches('"').to_owned()
            }
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        let key = self.next_key.take().unwrap_or_default();
        if let Some(v) = self.parent.field(&key, value) {
            self.items.push((key, v));
        }
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        Ok(wrap(self.wrap, Value::Map(self.items)))
    }
}

impl ser::SerializeStruct for MapBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        if let Some(v) = self.parent.field(key, value) {
            self.items.push((key.to_owned(), v));
        }
        Ok(())
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeMap::end(self)
    }
}

impl ser::SerializeStructVariant for MapBuilder<'_> {
    type Ok = Value;
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Value, SerError> {
        ser::SerializeMap::end(self)
    }
}

// Keeps the unused `Impossible` import honest: serde's helper is how a serializer would
// refuse a whole category; this serializer accepts every category instead.
#[allow(dead_code)]
type _Unused = Impossible<(), SerError>;

/// Reads the parameter file a W&B sweep agent writes: `{name: {value: v}}` in YAML.
pub(crate) fn read_sweep_params(path: &Path) -> Result<Vec<(String, Value)>> {
    let text = std::fs::read_to_string(path)
        .map_err(Error::io("could not read the sweep parameter file", path))?;
    let bad = |reason: String| Error::InvalidSetting {
        name: format!("WANDB_SWEEP_PARAM_PATH ({})", path.display()),
        reason,
    };
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let serde_json::Value::Object(map) = doc else {
        return Err(bad("the file is not a mapping of parameter names".into()));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        if k == "wandb_version" || k == "_wandb" {
            continue;
        }
        let value = match v {
            serde_json::Value::Object(mut o) if o.contains_key("value") => {
                o.remove("value").unwrap_or_default()
            }
            other => other,
        };
        out.push((k, Value::from(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    enum Optim {
        Sgd,
        Adam { beta1: f64, beta2: f64 },
        Lion(f32),
        Pair(u8, u8),
    }

    #[derive(Serialize)]
    struct Model {
        layers: Vec<u32>,
        dropout: Option<f32>,
    }

    #[derive(Serialize)]
    struct Train {
        lr: f64,
        model: Model,
        optim: Optim,
        others: Vec<Optim>,
        by_epoch: BTreeMap<u32, f64>,
        api_key: &'static str,
        max_tokens: u32,
        pad_token_id: u32,
    }

    fn to_json(items: &[(String, Value)]) -> serde_json::Value {
        Value::Map(items.to_vec()).to_serde_json()
    }

    #[test]
    fn nested_structs_and_enums_serialize_as_serde_json_would() {
        let cfg = Train {
            lr: 0.01,
            model: Model {
                layers: vec![32, 64],
                dropout: None,
            },
            optim: Optim::Adam {
                beta1: 0.9,
                beta2: 0.999,
            },
            others: vec![Optim::Sgd, Optim::Lion(0.5), Optim::Pair(1, 2)],
            by_epoch: BTreeMap::from([(1, 0.5), (2, 0.25)]),
            api_key: "sk-123",
            max_tokens: 5,
            pad_token_id: 0,
        };
        let mut s = serialize(&cfg);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let plain = to_json(&s.items);
        let mut expected = serde_json::to_value(&cfg).unwrap();
        assert_eq!(plain, expected);
        redact(&mut s.items);
        expected["api_key"] = serde_json::json!(crate::value::secrets::REDACTED);
        assert_eq!(to_json(&s.items), expected);
    }

    #[test]
    fn sweep_parameters_reach_nested_fields_and_keep_the_rest() {
        // Failed before: `model.layers` became a top-level key, and a nested block
        // replaced the whole `model` map.
        let mut items = vec![
            ("lr".to_owned(), Value::from(0.1)),
            (
                "model".to_owned(),
                Value::map([("layers", Value::from(2)), ("width", Value::from(64))]),
            ),
        ];
        let dotted = apply_sweep_params(
            &mut items,
            vec![
                ("model.layers".to_owned(), Value::from(4)),
                ("optim".to_owned(), Value::map([("beta", Value::from(0.9))])),
            ],
        );
        assert_eq!(dotted, vec![("model.layers".to_owned(), Value::from(4))]);
        let nested = apply_sweep_params(
            &mut items,
            vec![(
                "model".to_owned(),
                Value::map([("width", Value::from(128))]),
            )],
        );
        assert!(nested.is_empty());
        assert_eq!(
            to_json(&items),
            serde_json::json!({"lr": 0.1, "model": {"layers": 4, "width": 128}, "optim": {"beta": 0.9}})
        );
    }

    struct Broken;
    impl Serialize for Broken {
        fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot serialize a file handle"))
        }
    }

    #[derive(Serialize)]
    struct WithBroken {
        ok: u8,
        handle: Broken,
        after: &'static str,
    }

    #[test]
    fn an_unserializable_field_is_left_out_with_a_warning_naming_it() {
        let s = serialize(&WithBroken {
            ok: 1,
            handle: Broken,
            after: "kept",
        });
        assert_eq!(
            to_json(&s.items),
            serde_json::json!({"ok": 1, "after": "kept"})
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("`handle`"), "{:?}", s.warnings);
        assert!(s.warnings[0].contains("file handle"), "{:?}", s.warnings);
    }

    #[test]
    fn non_string_map_keys_are_stringified() {
        let m: HashMap<(u8, u8), u8> = HashMap::from([((1, 2), 3)]);
        let s = serialize(&BTreeMap::from([("m", m)]));
        assert_eq!(to_json(&s.items), serde_json::json!({"m": {"[1,2]": 3}}));
        let s = serialize(&BTreeMap::from([(true, 1), (false, 0)]));
        assert_eq!(
            to_json(&s.items),
            serde_json::json!({"false": 0, "true": 1})
        );
    }

    #[test]
    fn a_scalar_config_is_kept_under_value() {
        let s = serialize(&3.5f64);
        assert_eq!(to_json(&s.items), serde_json::json!({"value": 3.5}));
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn overrides_parse_json_or_text_and_set_nested_paths() {
        let mut items = serialize(&serde_json::json!({"model": {"depth": 2}, "lr": 0.1})).items;
        for o in [
            "model.depth=4",
            "lr=0.5",
            "name=resnet",
            "model.act.kind=\"gelu\"",
        ] {
            let (path, v) = parse_override(o).unwrap();
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            set_path(&mut items, &path, v);
        }
        assert_eq!(
            to_json(&items),
            serde_json::json!({"model": {"depth": 4, "act": {"kind": "gelu"}}, "lr": 0.5, "name": "resnet"})
        );
        assert!(parse_override("no-equals").is_none());
        assert!(parse_override("a..b=1").is_none());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::Value as J;

    use super::*;
    use crate::testing::CASES;

    fn json(depth: u32) -> impl Strategy<Value = J> {
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::from),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            any::<f64>().prop_map(J::from),
            "\\PC{0,12}".prop_map(J::from),
        ];
        leaf.prop_recursive(depth, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
                prop::collection::btree_map("[a-z_-]{0,10}", inner, 0..4)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Config capture of any JSON keeps it exactly (numbers, nesting, key order aside),
        /// with no warnings; a top level that is not a map goes under `value`.
        #[test]
        fn any_json_is_captured_as_it_is(v in json(6)) {
            let s = serialize(&v);
            prop_assert!(s.warnings.iter().all(|w| w.contains("not a struct or map")), "{:?}", s.warnings);
            let back = Value::Map(s.items).to_serde_json();
            match &v {
                J::Object(_) => prop_assert_eq!(back, v),
                J::Null => prop_assert_eq!(back, serde_json::json!({})),
                other => prop_assert_eq!(back, serde_json::json!({"value": other})),
            }
        }

        /// Redaction keeps every key and only changes values under secret names.
        #[test]
        fn redaction_changes_only_secret_values(v in json(4)) {
            let mut s = serialize(&serde_json::json!({"cfg": v, "api_key": "k", "max_tokens": 3}));
            redact(&mut s.items);
            let back = Value::Map(s.items).to_serde_json();
            prop_assert_eq!(&back["api_key"], &serde_json::json!(crate::value::secrets::REDACTED));
            prop_assert_eq!(&back["max_tokens"], &serde_json::json!(3));
        }
    }

    #[test]
    fn a_config_ten_thousand_deep_is_cut_at_the_limit_with_a_warning() {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let mut v = J::from(1);
                for _ in 0..10_000 {
                    v = J::Array(vec![v]);
                }
                let s = serialize(&serde_json::json!({ "deep": v.clone() }));
                assert!(
                    s.warnings.iter().any(|w| w.contains("deeper than 64")),
                    "{:?}",
                    s.warnings
                );
                assert!(!Value::Map(s.items).deeper_than(crate::value::MAX_DEPTH + 1));
                std::mem::forget(v);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
