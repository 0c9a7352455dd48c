//! The caller's account: GET /api/profile and POST /api/reset-api-key.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, ready_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::response::{self, json_key};
use crate::services::accounts::Profile;

ready_handlers! {
    profile => profile_impl;
}

boxed_handlers! {
    reset_api_key => reset_api_key_impl;
}

fn profile_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?;
    // Profile serialises to the documented shape: username, role, apiKey, clientCount.
    let presented_key = crate::http::auth::api_key(&ctx.headers);
    let profile = ctx.app().accounts.profile(caller, presented_key)?;
    Ok(response::json_written(StatusCode::OK, |out| {
        write_profile(&profile, out)
    }))
}

/// The profile's JSON, the same document `serde_json` makes from [`Profile`], written by hand:
/// API clients poll this route to check their key, and serde's general machinery was a tenth
/// of the request's cost.
fn write_profile(profile: &Profile, out: &mut Vec<u8>) {
    let mut object = response::JsonObject::begin(out);
    object.string(json_key!("username"), &profile.username);
    object.string(json_key!("role"), profile.role.as_str());
    object.string(json_key!("apiKey"), &profile.api_key);
    object.number(json_key!("clientCount"), profile.client_count);
    object.end();
}

/// Authenticated by the body (`username` + `currentApiKey`), not by header or cookie.
async fn reset_api_key_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let username = fields.string("username")?;
    let current = fields.string("currentApiKey")?;
    let name = username.clone();
    let outcome = blocking(ctx.app(), move |app| {
        app.accounts.reset_api_key(&name, &current)
    })
    .await;
    match outcome {
        Ok(new_key) => {
            ctx.security_event(
                "api_key_reset",
                Some(&username),
                "account API key replaced".into(),
            )
            .await;
            Ok(response::json(
                StatusCode::OK,
                &json!({"message": "API key reset successfully.", "newApiKey": new_key}),
            ))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    #[test]
    fn the_written_profile_is_the_document_serde_makes() {
        let names = [
            "bench",
            "a.b_c-9",
            "quote\"back\\slash",
            "tab\tnew\nline\u{1}",
            "ünïcødé ✓",
            "",
        ];
        for (i, name) in names.iter().enumerate() {
            let profile = Profile {
                username: (*name).into(),
                role: if i % 2 == 0 { Role::User } else { Role::Admin },
                api_key: format!("{i:064x}").into(),
                client_count: [0, 1, 9, 10, 4_294_967_296, u64::MAX][i],
            };
            let mut written = Vec::new();
            write_profile(&profile, &mut written);
            let expected = serde_json::to_vec(&profile).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
