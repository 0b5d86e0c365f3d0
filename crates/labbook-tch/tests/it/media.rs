//! The tensor helpers (Tch through labbook-core's shared ones): every dtype,
//! shape and layout they take, and the errors for the rest.

use labbook_core::Value;
use labbook_core::media::Layout;
use labbook_core::train;
use labbook_tch::{Error, Tch, histogram, image, images, scalar};
use tch::{Device, Kind, Tensor};

fn t(shape: &[i64], kind: Kind) -> Tensor {
    Tensor::zeros(shape, (kind, Device::Cpu))
}

#[test]
fn scalars_of_every_kind_and_shape_of_one_element() {
    for kind in [Kind::Half, Kind::BFloat16, Kind::Float, Kind::Double] {
        let v = scalar(&Tensor::from(1.5f64).to_kind(kind)).unwrap();
        assert_eq!(v, Value::F64(1.5), "{kind:?}");
    }
    for kind in [Kind::Uint8, Kind::Int8, Kind::Int16, Kind::Int, Kind::Int64] {
        let v = scalar(&Tensor::from_slice(&[3i64]).view([1, 1]).to_kind(kind));
        assert_eq!(v.unwrap(), Value::Int(3), "{kind:?}");
    }
    let err = scalar(&t(&[2, 3], Kind::Float)).unwrap_err();
    assert!(matches!(err, Error::Rank { shape, .. } if shape == [2, 3]));
    assert!(matches!(
        scalar(&t(&[0], Kind::Float)),
        Err(Error::Rank { .. })
    ));
    let complex = t(&[1], Kind::ComplexFloat);
    assert!(matches!(
        scalar(&complex),
        Err(Error::Kind {
            kind: Kind::ComplexFloat,
            ..
        })
    ));
}

#[test]
fn histograms_take_floats_and_integers_of_any_rank() {
    let w = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([2, 3, 4]);
    let values = train::f32_values::<Tch>(&w.to_kind(Kind::Double), "x").unwrap();
    assert_eq!((values.len(), values[23]), (24, 23.0));
    histogram(&w.to_kind(Kind::BFloat16)).unwrap();
    histogram(&w.to_kind(Kind::Int64)).unwrap();
    // A non-contiguous view reads in logical order.
    let transposed = train::f32_values::<Tch>(&w.view([6, 4]).tr(), "x").unwrap();
    assert_eq!(&transposed[..3], [0.0, 4.0, 8.0]);
}

#[test]
fn images_in_both_layouts_kinds_and_channel_counts() {
    for (shape, layout) in [
        ([5, 1, 6, 4], Layout::Chw),
        ([5, 3, 6, 4], Layout::Chw),
        ([5, 6, 4, 4], Layout::Hwc),
    ] {
        for kind in [Kind::Float, Kind::Half, Kind::Uint8] {
            let imgs = images(&t(&shape, kind), layout, 3).unwrap();
            assert_eq!(imgs.len(), 3, "{shape:?} {kind:?}");
            assert_eq!(imgs[0].size(), (4, 6), "width 4, height 6");
        }
    }
    assert_eq!(
        images(&t(&[2, 1, 4, 4], Kind::Float), Layout::Chw, 8)
            .unwrap()
            .len(),
        2
    );
    assert!(
        images(&t(&[2, 1, 4, 4], Kind::Float), Layout::Chw, 0)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        image(&t(&[3, 6, 4], Kind::Float), Layout::Chw)
            .unwrap()
            .size(),
        (4, 6)
    );
}

#[test]
fn image_errors_name_the_rank_kind_or_channels() {
    let err = images(&t(&[1, 28, 28], Kind::Float), Layout::Chw, 4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a batch of images needs a tensor of rank 4 ([n, c, h, w] or [n, h, w, c]); this one has shape [1, 28, 28]"
    );
    let err = images(&t(&[2, 2, 8, 8], Kind::Float), Layout::Chw, 4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "images have 1, 3 or 4 channels; this NCHW tensor of shape [2, 2, 8, 8] has 2"
    );
    let err = image(&t(&[8, 8, 5], Kind::Float), Layout::Hwc).unwrap_err();
    assert!(err.to_string().contains("this HWC tensor"), "{err}");
    let err = image(&t(&[1, 8, 8], Kind::Int64), Layout::Chw).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kind {
                kind: Kind::Int64,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("to_kind(Kind::Uint8)"), "{err}");
}

#[test]
fn a_tensor_of_frames_is_a_video_in_either_layout() {
    let tchw = Tensor::rand([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let thwc = t(&[4, 8, 8, 1], Kind::Uint8);
    labbook_tch::video(&tchw, Layout::Chw, 4).unwrap();
    labbook_tch::video(&thwc, Layout::Hwc, 4).unwrap();
    assert!(matches!(
        labbook_tch::video(&t(&[3, 8, 8], Kind::Float), Layout::Chw, 4),
        Err(Error::Rank { .. })
    ));
    assert!(matches!(
        labbook_tch::video(&t(&[2, 2, 8, 8], Kind::Float), Layout::Chw, 4),
        Err(Error::Channels { .. })
    ));
}
