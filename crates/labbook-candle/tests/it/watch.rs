//! `Watch`: when it fires, and the histograms and norms of every variable and gradient.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use labbook_candle::Watch;
use labbook_core::Value;

fn model() -> (VarMap, candle_nn::Linear) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let fc = candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
    (varmap, fc)
}

#[test]
fn fires_on_the_first_step_and_every_n_after() {
    let (varmap, _) = model();
    let mut w = Watch::new(&varmap, 3);
    let run = labbook_core::Run::disabled();
    let fired: Vec<bool> = (0..7).map(|_| w.tick()).collect();
    assert_eq!(fired, [true, false, false, true, false, false, true]);
    assert!(
        !w.observe(&run, None).unwrap(),
        "a disabled run only counts"
    );
    assert_eq!(w.steps(), 8);
    let mut never = Watch::new(&varmap, 0);
    assert!((0..5).all(|_| !never.tick()));
}

#[test]
fn values_cover_every_variable_and_gradient_with_norms() {
    let (varmap, fc) = model();
    let x = Tensor::ones((4, 3), DType::F32, &Device::Cpu).unwrap();
    let grads = fc
        .forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let w = Watch::new(&varmap, 1);
    let keys: Vec<String> = w
        .values(Some(&grads))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
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
    let values = w.values(Some(&grads)).unwrap();
    let bias_grad = values
        .iter()
        .find(|(k, _)| k == "gradients/fc.bias.norm")
        .unwrap();
    assert_eq!(bias_grad.1, Value::from(32f64.sqrt()));
    let without: Vec<String> = w
        .values(None)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        without.iter().all(|k| k.starts_with("parameters/")),
        "{without:?}"
    );
}
