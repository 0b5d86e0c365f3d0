//! Browser sign-in rows: sessions, one-time sign-in tokens, passwords.

use rusqlite::{Connection, OptionalExtension, params};

use super::sql;
use crate::store::{Caller, StoreResult};

/// The caller `user` is: admin or not, and their teams.
pub(super) fn caller(c: &Connection, user: &str) -> StoreResult<Option<Caller>> {
    let admin: Option<bool> = c
        .query_row("SELECT admin FROM users WHERE name = ?1", [user], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    let Some(admin) = admin else {
        return Ok(None);
    };
    let mut stmt = c
        .prepare_cached("SELECT team FROM team_members WHERE user = ?1 ORDER BY team")
        .map_err(sql)?;
    let teams = stmt
        .query_map([user], |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    Ok(Some(Caller {
        user: user.to_owned(),
        admin,
        teams,
    }))
}

pub(super) fn add(
    c: &Connection,
    hash: &str,
    user: &str,
    csrf: &str,
    expires: i64,
) -> StoreResult<()> {
    // Ended sessions go when new ones come, so the table stays the size of those in use.
    c.execute(
        "DELETE FROM sessions WHERE expires <= ?1",
        [crate::store::now_ms()],
    )
    .map_err(sql)?;
    c.execute(
        "INSERT INTO sessions (hash, user, csrf, expires) VALUES (?1, ?2, ?3, ?4)",
        params![hash, user, csrf, expires],
    )
    .map_err(sql)?;
    Ok(())
}

pub(super) fn get(c: &Connection, hash: &str, now: i64) -> StoreResult<Option<(Caller, String)>> {
    let found: Option<(String, String)> = c
        .query_row(
            "SELECT user, csrf FROM sessions WHERE hash = ?1 AND expires > ?2",
            params![hash, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    let Some((user, csrf)) = found else {
        return Ok(None);
    };
    Ok(caller(c, &user)?.map(|caller| (caller, csrf)))
}

pub(super) fn take_token(c: &Connection, hash: &str, now: i64) -> StoreResult<Option<String>> {
    let found: Option<(String, i64)> = c
        .query_row(
            "SELECT user, expires FROM signin_tokens WHERE hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    c.execute(
        "DELETE FROM signin_tokens WHERE hash = ?1 OR expires <= ?2",
        params![hash, now],
    )
    .map_err(sql)?;
    Ok(found.and_then(|(user, expires)| (expires > now).then_some(user)))
}
