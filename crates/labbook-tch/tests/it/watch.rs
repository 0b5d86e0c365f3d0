//! `Watch`: when it fires, and the histograms and norms of every variable and gradient.

use labbook_core::Value;
use labbook_tch::Watch;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

#[test]
fn fires_on_the_first_step_and_every_n_after() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
    let mut w = Watch::new(&vs, 3);
    let fired: Vec<bool> = (0..7).map(|_| w.tick()).collect();
    assert_eq!(fired, [true, false, false, true, false, false, true]);
    assert!(!w.observe(&labbook_core::Run::disabled()).unwrap());
    assert_eq!(w.steps(), 8);
}

#[test]
fn values_cover_every_variable_and_gradient_with_norms() {
    let vs = nn::VarStore::new(Device::Cpu);
    let fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
    let w = Watch::new(&vs, 1);
    let before: Vec<String> = w.values().unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(
        before.iter().all(|k| k.starts_with("parameters/")),
        "no gradients yet: {before:?}"
    );
    let mut opt = nn::Sgd::default().build(&vs, 0.0).unwrap();
    let x = Tensor::ones([4, 3], (Kind::Float, Device::Cpu));
    opt.backward_step(&fc.forward(&x).sum(None));
    let values = w.values().unwrap();
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "parameters/fc.bias.norm",
            "parameters/fc.bias",
            "gradients/fc.bias.norm",
            "gradients/fc.bias",
            "parameters/fc.weight.norm",
            "parameters/fc.weight",
            "gradients/fc.weight.norm",
            "gradients/fc.weight",
            "parameters/norm",
            "gradients/norm",
        ]
    );
    // d(sum(xW^T + b))/db = batch size for each of the 2 outputs: norm sqrt(2 * 4^2).
    let bias = values
        .iter()
        .find(|(k, _)| k == "gradients/fc.bias.norm")
        .unwrap();
    assert_eq!(bias.1, Value::from(32f64.sqrt()));
}
