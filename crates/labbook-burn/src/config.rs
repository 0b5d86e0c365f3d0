//! A burn `Config` as the run config.

use burn::config::Config;
use labbook_core::{Run, Settings};

use crate::error::Result;

/// Makes a burn [`Config`] the run's config (any `serde::Serialize` works; this names the
/// burn case). Secrets are redacted as for any config.
///
/// ```
/// use burn::config::Config;
/// #[derive(Config, Debug)]
/// pub struct TrainConfig { #[config(default = 1e-3)] pub lr: f64, #[config(default = 3)] pub epochs: usize }
/// let settings = labbook_burn::settings_with_config(labbook_core::Settings::new("p"), &TrainConfig::new());
/// # let _ = settings;
/// ```
pub fn settings_with_config<C: Config>(settings: Settings, config: &C) -> Settings {
    settings.config(config)
}

/// The burn [`Config`] as the run sees it: the config given at start, with sweep values and
/// `--overrides` merged.
///
/// ```
/// use burn::config::Config;
/// use labbook_core::{Mode, Settings};
/// #[derive(Config, Debug, PartialEq)]
/// pub struct TrainConfig { #[config(default = 1e-3)] pub lr: f64, #[config(default = 3)] pub epochs: usize }
/// let run = labbook_core::init(
///     labbook_burn::settings_with_config(Settings::new("p").mode(Mode::Disabled), &TrainConfig::new())
///         .overrides(["epochs=5"]),
/// )?;
/// let cfg: TrainConfig = labbook_burn::config_as(&run)?;
/// assert_eq!(cfg.epochs, 5);
/// # Ok::<(), labbook_burn::Error>(())
/// ```
pub fn config_as<C: Config>(run: &Run) -> Result<C> {
    Ok(run.config_as::<C>()?)
}
