//! The commands that manage a data directory, with or without a server running on it:
//! users, keys, teams, webhooks, backups.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use labbook_server::DataDir;
use labbook_server::store::{HookFormat, Webhook};

#[derive(Subcommand, Debug)]
pub(super) enum ServeCommand {
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Teams: entities their members share.
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// Webhooks: where a project's alerts are POSTed.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// A one-time link that signs a browser in as USER (good for 15 minutes).
    SigninLink {
        /// Who signs in.
        #[arg(long, default_value = labbook_server::FIRST_USER)]
        user: String,
    },
    /// Copies the data directory to DIR, consistently, while the server runs; `labbook
    /// serve --data DIR` serves the copy.
    Backup {
        /// A new or empty directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum WebhookCommand {
    /// Sends the alerts of ENTITY/PROJECT to URL (retried until taken, off the request
    /// path).
    Add {
        /// The project, as ENTITY/PROJECT.
        project: String,
        /// An http:// or https:// URL.
        url: String,
        /// `slack` ({"text": ...}, also Mattermost) or `json` (the alert's fields).
        #[arg(long, default_value = "slack")]
        format: String,
    },
    /// Stops sending ENTITY/PROJECT's alerts to URL.
    Remove {
        /// The project, as ENTITY/PROJECT.
        project: String,
        /// The URL it was added with.
        url: String,
    },
    /// Lists the webhooks (URLs shortened to their host: their paths are often secrets).
    List,
}

#[derive(Subcommand, Debug)]
pub(super) enum TeamCommand {
    /// Adds a team (an entity; not a user's name).
    Add {
        /// The team's name.
        name: String,
    },
    /// Lets a user use the team's entity.
    AddMember {
        /// The team.
        team: String,
        /// The user.
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum UserCommand {
    /// Adds a user (then `key new --user NAME` gives them a key).
    Add {
        /// The user's name, also the entity of their runs.
        name: String,
    },
    /// Sets a user's password for signing in with a browser (read without echo on a
    /// terminal, or as the first line of stdin).
    Password {
        /// The user.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum KeyCommand {
    /// A new API key for a user; printed once, kept only as a keyed hash.
    New {
        /// Whose key.
        #[arg(long, default_value = labbook_server::FIRST_USER)]
        user: String,
    },
    /// Revokes the key with this label (as `key new` printed it).
    Revoke {
        /// The key's label, e.g. key-1a2b3c4d.
        label: String,
    },
}

/// Runs one management command on `data`, whose server answers at `base` (for links).
pub(super) fn admin(data: &DataDir, command: ServeCommand, base: &str) -> Result<()> {
    match command {
        ServeCommand::SigninLink { user } => {
            let token = data.signin_token(&user)?;
            println!("sign in as {user:?} (once, within 15 minutes): {base}/login?token={token}");
            Ok(())
        }
        ServeCommand::User {
            command: UserCommand::Password { name },
        } => {
            let password = crate::account::read_secret("new password: ")?;
            data.set_password(&name, &password)?;
            println!("{name:?} can sign in with that password at {base}/login");
            Ok(())
        }
        ServeCommand::User {
            command: UserCommand::Add { name },
        } => {
            check_name(&name)?;
            if data.add_user(&name)? {
                println!(
                    "added user {name:?}; give them a key: labbook serve key new --user {name}"
                );
            } else {
                println!("user {name:?} exists");
            }
            Ok(())
        }
        ServeCommand::Key {
            command: KeyCommand::New { user },
        } => {
            check_name(&user)?;
            let (key, label) = data.new_key(&user)?;
            println!(
                "API key for {user:?} (shown once; revoke with `labbook serve key revoke {label}`):"
            );
            println!("{key}");
            Ok(())
        }
        ServeCommand::Team {
            command: TeamCommand::Add { name },
        } => {
            check_name(&name)?;
            if data.add_team(&name)? {
                println!(
                    "added team {name:?}; add members: labbook serve team add-member {name} USER"
                );
            } else {
                println!("team {name:?} exists");
            }
            Ok(())
        }
        ServeCommand::Team {
            command: TeamCommand::AddMember { team, user },
        } => {
            data.add_member(&team, &user)?;
            println!("{user:?} is a member of {team:?}");
            Ok(())
        }
        ServeCommand::Webhook { command } => webhook(data, command),
        ServeCommand::Backup { dir } => {
            let started = std::time::Instant::now();
            let copy = data.backup(&dir)?;
            println!(
                "backed up {} to {} in {:.1}s: database {:.1} MB, {} blobs ({:.1} MB); serve it \
                 with: labbook serve --data {}",
                data.path.display(),
                dir.display(),
                started.elapsed().as_secs_f64(),
                copy.database_bytes as f64 / 1e6,
                copy.blobs,
                copy.blob_bytes as f64 / 1e6,
                dir.display()
            );
            Ok(())
        }
        ServeCommand::Key {
            command: KeyCommand::Revoke { label },
        } => {
            if !data.revoke_key(&label)? {
                bail!("no key labelled {label:?}");
            }
            println!("revoked {label}");
            Ok(())
        }
    }
}

fn webhook(data: &DataDir, command: WebhookCommand) -> Result<()> {
    let hook = |project: &str, url: String, format: &str| -> Result<Webhook> {
        let Some((entity, project)) = project.split_once('/') else {
            bail!("project {project:?}: write it as ENTITY/PROJECT");
        };
        let format = HookFormat::parse(format)
            .with_context(|| format!("format {format:?}: use `slack` or `json`"))?;
        let parsed = reqwest::Url::parse(&url).with_context(|| format!("{url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("{url:?}: a webhook is an http:// or https:// URL");
        }
        Ok(Webhook::new(entity, project, url, format))
    };
    match command {
        WebhookCommand::Add {
            project,
            url,
            format,
        } => {
            let hook = hook(&project, url, &format)?;
            if data.add_webhook(&hook)? {
                println!(
                    "alerts of {}/{} go to {} ({})",
                    hook.entity,
                    hook.project,
                    host_of(&hook.url),
                    hook.format.as_str()
                );
            } else {
                println!("that webhook exists");
            }
        }
        WebhookCommand::Remove { project, url } => {
            if !data.remove_webhook(&hook(&project, url, "slack")?)? {
                bail!("no such webhook for {project}");
            }
            println!("removed");
        }
        WebhookCommand::List => {
            for hook in data.webhooks()? {
                println!(
                    "{}/{}\t{}\t{}",
                    hook.entity,
                    hook.project,
                    hook.format.as_str(),
                    host_of(&hook.url)
                );
            }
        }
    }
    Ok(())
}

/// A URL's scheme and host: enough to tell webhooks apart without printing their secret.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(not a URL)".to_owned(),
        |u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
    )
}

/// A user name is an entity name: it appears in paths and URLs.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("user name {name:?}: use 1 to 64 letters, digits, `-` or `_`");
    }
    Ok(())
}
