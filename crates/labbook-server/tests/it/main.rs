//! labbook-server's integration tests, one binary: the protocol driven by hand, and the
//! official client writing to it online and through `wandb sync`.

mod browser;
mod delete_run;
mod disk_full;
mod hostile;
mod server;
mod signin;
mod tls;
mod wandb_online;
mod wandb_sync;
mod webhooks;
