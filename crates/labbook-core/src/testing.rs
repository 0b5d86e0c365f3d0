//! Generators for the property tests: values that reach the edges (subnormal, equal,
//! non-finite and huge floats; steps 0 and u64::MAX; empty and oversized keys; deep
//! nesting), shared by the modules' `props` tests.

use proptest::prelude::*;

use crate::value::Value;
use crate::value::key::MAX_KEY_BYTES;

/// Cases per property: fixed, so the suite takes the same time on every run.
pub(crate) const CASES: u32 = 256;

/// Floats from everywhere, the edges most of all.
pub(crate) fn edge_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0.0,
            -0.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MIN_POSITIVE,
            1e-307,
            1e-300,
            1.0,
            f64::MAX,
            -f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::EPSILON,
        ]),
        2 => any::<f64>(),
        2 => -1e6..1e6f64,
    ]
}

/// Only finite floats, edges included.
pub(crate) fn finite_f64() -> impl Strategy<Value = f64> {
    edge_f64().prop_filter("finite", |x| x.is_finite())
}

/// Keys and names: empty, short, unicode, control characters, exactly at and just past the
/// length limit.
pub(crate) fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_/.]{1,12}",
        "\\PC{0,24}",
        "[\\x00-\\x1f\"\\\\]{1,6}",
        Just("k".repeat(MAX_KEY_BYTES)),
        Just("k".repeat(MAX_KEY_BYTES + 1)),
        Just("é".repeat(MAX_KEY_BYTES / 2 + 1)),
        prop::sample::select(vec!["_step", "_runtime", "_timestamp", "_wandb"])
            .prop_map(String::from),
    ]
}

/// Values of every kind, nested up to `depth` levels.
pub(crate) fn value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f32>().prop_map(Value::F32),
        edge_f64().prop_map(Value::F64),
        "\\PC{0,16}".prop_map(Value::Str),
        "[\\x00-\\x1f\"\\\\NaInfity-]{0,12}".prop_map(Value::Str),
    ];
    leaf.prop_recursive(depth, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec(("\\PC{0,8}", inner), 0..4).prop_map(Value::Map),
        ]
    })
}

/// A value nested `depth` lists deep, built without recursion.
pub(crate) fn nested_list(depth: usize) -> Value {
    let mut v = Value::from(1);
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}
