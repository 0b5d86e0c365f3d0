//! Settings for a bench's runs: project `project` under `dir`, nothing but what is
//! measured (no system metrics, console capture, banner, signal handling, environment or
//! `.env` files).

pub(crate) fn settings(dir: &std::path::Path, project: &str) -> labbook::Settings {
    labbook::Settings::new(project)
        .dir(dir)
        .system_metrics(false)
        .console(labbook::Console::Off)
        .quiet(true)
        .handle_signals(false)
        .env_vars(Vec::<(String, String)>::new())
        .dotenv_dir(dir)
}
