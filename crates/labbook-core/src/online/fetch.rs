//! The network half of `run.use_artifact` (online builds) as the official client does it: the version a
//! `name:alias` names (ArtifactMembershipByName), its manifest (checked against the
//! version's digest before anything in it is trusted), then its files page by page, each
//! written beside its place and renamed into it only when its MD5 matches the manifest's.
//! Files already there with the right digest are not downloaded again.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value as Json;

use super::client::Client;
use super::download::{Downloaded, Wanted};
use super::{OnlineSettings, graphql, on_own_thread, public_url};
use crate::error::{Error, Result};

/// Files asked for per page of GetArtifactMembershipFileUrls.
const FILES_PER_PAGE: u32 = 1000;

/// The version's identity on the server.
struct Version {
    id: String,
    kind: String,
    version: String,
    digest: String,
    /// Where the collection lives (a version may be named through another project).
    entity: String,
    project: String,
}

/// Downloads version `wanted` under `<download_dir>/<name>:<vN>/`, on a thread of its own.
pub(crate) fn download(
    o: &OnlineSettings,
    wanted: &Wanted<'_>,
    download_dir: &Path,
) -> Result<Downloaded> {
    download_to(o, wanted, |version| {
        download_dir.join(format!("{}:{version}", wanted.name))
    })
}

/// Downloads version `wanted` into the directory `dir_of` names for its version (`vN`),
/// on a thread of its own.
pub(crate) fn download_to(
    o: &OnlineSettings,
    wanted: &Wanted<'_>,
    dir_of: impl FnOnce(&str) -> std::path::PathBuf + Send,
) -> Result<Downloaded> {
    on_own_thread(|| {
        let client = o.interactive_client()?;
        let v = find_version(&client, wanted)?;
        let contents = fetch_manifest(&client, &v, wanted.shown)?;
        let dir = dir_of(&v.version);
        let mut files = fetch_files(&client, &v, wanted, &contents, &dir)?;
        files.sort();
        let missing: Vec<&String> = contents
            .iter()
            .filter(|(path, e)| e.get("ref").is_none() && files.binary_search(path).is_err())
            .map(|(path, _)| path)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Artifact(format!(
                "{}: the server listed no download for {missing:?}, which its manifest holds",
                wanted.shown
            )));
        }
        Ok(Downloaded {
            id: v.id,
            kind: v.kind,
            version: v.version,
            digest: v.digest,
            dir,
            files,
        })
    })
}

/// The metadata (JSON text) of version `wanted`, without its files; `None` when the
/// server has no such version.
pub(crate) fn metadata(o: &OnlineSettings, wanted: &Wanted<'_>) -> Result<Option<String>> {
    let data = on_own_thread(|| {
        o.interactive_client()?.call(&graphql::ArtifactMetadata {
            entity: wanted.entity,
            project: wanted.project,
            name: wanted.shown,
        })
    })?;
    Ok(
        data["project"]["artifactCollectionMembership"]["artifact"]["metadata"]
            .as_str()
            .map(str::to_owned),
    )
}

/// Asks which version `wanted` names; only a committed one is used.
fn find_version(client: &Client, wanted: &Wanted<'_>) -> Result<Version> {
    let entity = match wanted.entity {
        Some(e) => e.to_owned(),
        None => client.call(&graphql::Viewer::default())?["viewer"]["entity"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Artifact("the server did not say which entity to use".into()))?,
    };
    let data = client.call(&graphql::ArtifactMembership {
        entity: &entity,
        project: wanted.project,
        name: wanted.shown,
    })?;
    let membership = &data["project"]["artifactCollectionMembership"];
    if membership.is_null() {
        return Err(Error::Artifact(format!(
            "{entity}/{} has no artifact {}",
            wanted.project, wanted.shown
        )));
    }
    let artifact = &membership["artifact"];
    let text = |v: &Json, what: &str| answer_text(v, what, wanted.shown);
    let id = text(&artifact["id"], "the artifact id")?;
    if artifact["state"].as_str() != Some("COMMITTED") {
        return Err(Error::Artifact(format!(
            "{} is not committed yet (state {})",
            wanted.shown, artifact["state"]
        )));
    }
    let collection = &membership["artifactCollection"];
    Ok(Version {
        id,
        kind: artifact["artifactType"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        version: format!("v{}", membership["versionIndex"].as_u64().unwrap_or(0)),
        digest: artifact["digest"].as_str().unwrap_or_default().to_owned(),
        entity: text(&collection["project"]["entity"]["name"], "the entity")?,
        project: text(&collection["project"]["name"], "the project")?,
    })
}

fn answer_text(v: &Json, what: &str, shown: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Artifact(format!("the server's answer for {shown} lacks {what}")))
}

/// The version's manifest entries, checked against its digest.
fn fetch_manifest(
    client: &Client,
    v: &Version,
    shown: &str,
) -> Result<serde_json::Map<String, Json>> {
    let answer = client.call(&graphql::FetchArtifactManifest { id: &v.id })?;
    let url = answer_text(
        &answer["artifact"]["currentManifest"]["file"]["directUrl"],
        "the manifest URL",
        shown,
    )?;
    let manifest: Json = client
        .get(&url, None)?
        .json()
        .map_err(|e| Error::Artifact(format!("{shown}: the manifest is not JSON: {e}")))?;
    let contents = manifest["contents"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    check_manifest_digest(&contents, &v.digest, shown)?;
    Ok(contents)
}

/// Downloads every file the server lists for the version, page by page. Returns their
/// entry paths.
fn fetch_files(
    client: &Client,
    v: &Version,
    wanted: &Wanted<'_>,
    contents: &serde_json::Map<String, Json>,
    dir: &Path,
) -> Result<Vec<String>> {
    let shown = wanted.shown;
    let mut files = Vec::new();
    let mut cursor: Option<String> = None;
    let mut cursors = std::collections::HashSet::new();
    loop {
        let data = client.call(&graphql::ArtifactFileUrls {
            entity: &v.entity,
            project: &v.project,
            collection: wanted.name,
            alias: &v.version,
            cursor: cursor.as_deref(),
            per_page: FILES_PER_PAGE,
        })?;
        let page = &data["project"]["artifactCollection"]["artifactMembership"]["files"];
        for edge in page["edges"].as_array().into_iter().flatten() {
            let name = answer_text(&edge["node"]["name"], "a file name", shown)?;
            crate::wire::artifact::check_entry(&name)
                .map_err(|e| Error::Artifact(format!("{shown}: {e}")))?;
            let url = answer_text(&edge["node"]["directUrl"], "a download URL", shown)?;
            let entry = contents.get(&name).ok_or_else(|| {
                Error::Artifact(format!("{shown}: {name} is not in its manifest"))
            })?;
            let digest = entry["digest"].as_str().unwrap_or_default();
            fetch(
                client,
                &url,
                dir,
                &name,
                digest,
                entry["size"].as_u64(),
                shown,
            )?;
            files.push(name);
        }
        let next = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        // A server that never ends its pages, or repeats one, is not followed round.
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true)
            || next.as_ref().is_none_or(|c| !cursors.insert(c.clone()))
        {
            return Ok(files);
        }
        cursor = next;
    }
}

/// The version's digest is the MD5 over its manifest's entries: a manifest that does not
/// give the digest the server named for the version (replaced, or for another version) is
/// refused before any file is trusted because of it.
fn check_manifest_digest(
    contents: &serde_json::Map<String, Json>,
    want: &str,
    shown: &str,
) -> Result<()> {
    if want.is_empty() {
        return Err(Error::Artifact(format!(
            "{shown}: the server did not give the version's digest, so its manifest cannot be checked"
        )));
    }
    let mut entries = Vec::with_capacity(contents.len());
    for (path, entry) in contents {
        let Some(digest) = entry["digest"].as_str() else {
            return Err(Error::Artifact(format!(
                "{shown}: the manifest entry {path:?} has no digest"
            )));
        };
        entries.push((path.as_str(), digest));
    }
    let got = crate::wire::artifact::manifest_digest(entries.into_iter());
    if got != want {
        return Err(Error::Artifact(format!(
            "{shown}: the manifest does not match the version (its entries give digest {got}, the version is {want}); it was replaced or corrupted, and nothing was downloaded"
        )));
    }
    Ok(())
}

/// Downloads one file into `dir` unless it is there with the right digest, hashing while
/// writing to a temporary file that is renamed into place only when it matches.
fn fetch(
    client: &Client,
    url: &str,
    dir: &Path,
    entry: &str,
    digest: &str,
    size: Option<u64>,
    shown: &str,
) -> Result<()> {
    let dest = dir.join(entry);
    if crate::wire::artifact::hash_file(&dest).is_ok_and(|(d, _)| d == digest) {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(Error::io("could not create", parent))?;
    // A name of this process's own: two processes downloading the same artifact never
    // write into each other's file.
    let tmp = parent.join(format!(
        ".{}.{}-{}.part",
        dest.file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy()),
        std::process::id(),
        crate::wire::artifact::random_base36(8)
    ));
    let mut resp = client.get(url, size)?;
    let mut out = std::fs::File::create(&tmp).map_err(Error::io("could not write", &tmp))?;
    let mut hasher = <md5::Md5 as md5::Digest>::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = resp.read(&mut buf).map_err(|e| Error::Upload {
            url: public_url(url),
            reason: format!("the download broke off: {e}"),
        })?;
        if n == 0 {
            break;
        }
        md5::Digest::update(&mut hasher, &buf[..n]);
        out.write_all(&buf[..n])
            .map_err(Error::io("could not write", &tmp))?;
    }
    drop(out);
    use base64::Engine;
    let got = base64::engine::general_purpose::STANDARD.encode(md5::Digest::finalize(hasher));
    if got != digest {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Artifact(format!(
            "{shown}: the download of {entry} does not match its digest (the manifest says {digest}, the bytes are {got})"
        )));
    }
    std::fs::rename(&tmp, &dest).map_err(Error::io("could not write", &dest))
}
