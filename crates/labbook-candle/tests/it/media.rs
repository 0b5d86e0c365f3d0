//! The tensor helpers (Candle through labbook-core's shared ones): every dtype,
//! shape and layout they take, and the errors for the rest.

use candle_core::{DType, Device, Tensor};
use labbook_candle::{Candle, Error, histogram, image, images, scalar};
use labbook_core::Value;
use labbook_core::media::Layout;
use labbook_core::train;

fn t(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros(shape, dtype, &Device::Cpu).unwrap()
}

#[test]
fn scalars_of_every_dtype_and_shape_of_one_element() {
    let dev = Device::Cpu;
    let half = Tensor::new(1.5f32, &dev).unwrap();
    for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        let v = scalar(&half.to_dtype(dtype).unwrap()).unwrap();
        assert_eq!(v, Value::F64(1.5), "{dtype:?}");
    }
    for dtype in [DType::U8, DType::U32, DType::I16, DType::I32, DType::I64] {
        let v = scalar(
            &Tensor::new(&[[3u32]], &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        );
        assert_eq!(v.unwrap(), Value::Int(3), "{dtype:?}");
    }
    let err = scalar(&t(&[2, 3], DType::F32)).unwrap_err();
    assert!(matches!(err, Error::Rank { shape, .. } if shape == [2, 3]));
    assert!(matches!(
        scalar(&t(&[0], DType::F32)),
        Err(Error::Rank { .. })
    ));
}

#[test]
fn histograms_take_floats_and_integers_of_any_rank() {
    let w = Tensor::arange(0f32, 24.0, &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 4))
        .unwrap();
    assert_eq!(train::f32_values::<Candle>(&w, "x").unwrap().len(), 24);
    histogram(&w.to_dtype(DType::BF16).unwrap()).unwrap();
    histogram(&w.to_dtype(DType::I64).unwrap()).unwrap();
    assert_eq!(
        train::f32_values::<Candle>(&w.to_dtype(DType::F64).unwrap(), "x").unwrap()[23],
        23.0
    );
}

#[test]
fn images_in_both_layouts_dtypes_and_channel_counts() {
    for (shape, layout) in [
        ([5, 1, 6, 4], Layout::Chw),
        ([5, 3, 6, 4], Layout::Chw),
        ([5, 6, 4, 4], Layout::Hwc),
    ] {
        for dtype in [DType::F32, DType::F16, DType::U8] {
            let imgs = images(&t(&shape, dtype), layout, 3).unwrap();
            assert_eq!(imgs.len(), 3, "{shape:?} {dtype:?}");
            assert_eq!(imgs[0].size(), (4, 6), "width 4, height 6");
        }
    }
    assert_eq!(
        images(&t(&[2, 1, 4, 4], DType::F32), Layout::Chw, 8)
            .unwrap()
            .len(),
        2
    );
    assert!(
        images(&t(&[2, 1, 4, 4], DType::F32), Layout::Chw, 0)
            .unwrap()
            .is_empty()
    );
    let one = image(&t(&[3, 6, 4], DType::F32), Layout::Chw).unwrap();
    assert_eq!(one.size(), (4, 6));
}

#[test]
fn image_errors_name_the_rank_dtype_or_channels() {
    let err = images(&t(&[1, 28, 28], DType::F32), Layout::Chw, 4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a batch of images needs a tensor of rank 4 ([n, c, h, w] or [n, h, w, c]); this one has shape [1, 28, 28]"
    );
    let err = images(&t(&[2, 2, 8, 8], DType::F32), Layout::Chw, 4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "images have 1, 3 or 4 channels; this NCHW tensor of shape [2, 2, 8, 8] has 2"
    );
    let err = image(&t(&[8, 8, 5], DType::F32), Layout::Hwc).unwrap_err();
    assert!(err.to_string().contains("this HWC tensor"), "{err}");
    let err = image(&t(&[1, 8, 8], DType::I64), Layout::Chw).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DType {
                dtype: DType::I64,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("to_dtype(DType::U8)"), "{err}");
}

#[test]
fn float_pixels_are_clamped_u8_pixels_kept() {
    let dev = Device::Cpu;
    let px = Tensor::new(&[[[-1f32, 0.5], [2.0, 1.0]]], &dev).unwrap();
    let img = image(&px, Layout::Chw).unwrap();
    assert_eq!(img.size(), (2, 2));
    let raw = Tensor::new(&[[[0u8, 7], [200, 255]]], &dev).unwrap();
    assert_eq!(image(&raw, Layout::Chw).unwrap().size(), (2, 2));
}

#[test]
fn a_tensor_of_frames_is_a_video_in_either_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let run = labbook_core::init(labbook_testkit::settings(tmp.path())).unwrap();
    let tchw = Tensor::rand(0f32, 1.0, (4, 3, 8, 8), &Device::Cpu).unwrap();
    let thwc = t(&[4, 8, 8, 1], DType::U8);
    for v in [
        labbook_candle::video(&tchw, Layout::Chw, 4).unwrap(),
        labbook_candle::video(&thwc, Layout::Hwc, 4).unwrap(),
    ] {
        run.log([("rollout", Value::from(v))]).unwrap();
    }
    run.finish().unwrap();
    let d = labbook_testkit::read_run(&labbook_testkit::only_run_dir(tmp.path()));
    for cell in d.column("rollout") {
        let v: serde_json::Value = serde_json::from_str(cell).unwrap();
        assert_eq!(v["_type"], "video-file", "{v}");
        let file = labbook_testkit::only_run_dir(tmp.path())
            .join("files")
            .join(v["path"].as_str().unwrap());
        assert!(std::fs::read(file).unwrap().starts_with(b"GIF8"));
    }
    assert!(matches!(
        labbook_candle::video(&t(&[3, 8, 8], DType::F32), Layout::Chw, 4),
        Err(Error::Rank { .. })
    ));
    assert!(matches!(
        labbook_candle::video(&t(&[2, 2, 8, 8], DType::F32), Layout::Chw, 4),
        Err(Error::Channels { channels: 2, .. })
    ));
}
