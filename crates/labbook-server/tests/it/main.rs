//! labbook-server's integration tests, one binary: the protocol driven by hand, and the
//! official client writing to it online and through `wandb sync`.

mod browser;
mod delete_run;
mod disk_full;
mod hostile;
mod read_api;
mod server;
mod signin;
mod tls;
mod wandb_online;
mod wandb_sync;
mod watch;
mod webhooks;

/// `labbook serve` as a library: a data directory at `dir` (SQLite and blobs), a new key of
/// its first user, and a server on it at any free port.
fn data_server(
    dir: &std::path::Path,
) -> (
    labbook_server::DataDir,
    String,
    labbook_server::RunningServer,
) {
    let (data, _) = labbook_server::DataDir::open(dir).unwrap();
    let (key, _) = data.new_key("admin").unwrap();
    let config = labbook_server::ServerConfig::from_data_dir(&data, "127.0.0.1:0".parse().unwrap());
    let server = labbook_server::Server::start(config).unwrap();
    (data, key, server)
}

/// A GraphQL operation with its variables, sent with `key` (the operation named as the
/// official client names it; the document is not what the server reads).
fn graphql(
    client: &reqwest::blocking::Client,
    base: &str,
    key: &str,
    operation: &str,
    variables: serde_json::Value,
) -> reqwest::blocking::Response {
    client
        .post(format!("{base}/graphql"))
        .basic_auth("api", Some(key))
        .json(
            &serde_json::json!({"query": format!("mutation {operation} {{ x }}"),
            "operationName": operation, "variables": variables}),
        )
        .send()
        .unwrap()
}
