//! The admin API: apps, users, enrolment links, devices, unlocks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use pushback_guard::CodeMode;
use pushback_guard::policy::UserState;
use pushback_guard::store::DeviceRecord;

use crate::AppState;
use crate::extract::{Admin, StrictJson};
use crate::problem::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    name: String,
    #[serde(default)]
    mode: Option<CodeMode>,
}

#[derive(Serialize)]
pub struct AppCreated {
    id: String,
    name: String,
    mode: Option<CodeMode>,
    /// Shown once; only its hash is stored.
    api_key: String,
}

pub async fn create_app(
    State(state): State<AppState>,
    Admin(admin): Admin,
    StrictJson(b): StrictJson<NewApp>,
) -> Result<(StatusCode, Json<AppCreated>), ApiError> {
    let (app, api_key) = state.guard.create_app(&admin, &b.name, b.mode).await?;
    tracing::info!(app = %app.id, name = %app.name, "app created");
    Ok((
        StatusCode::CREATED,
        Json(AppCreated {
            id: app.id,
            name: app.name,
            mode: app.mode,
            api_key,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    login: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Serialize)]
pub struct UserView {
    login: String,
    display_name: String,
    created_at: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    StrictJson(b): StrictJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = state
        .guard
        .create_user(&admin, &b.login, &b.display_name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            login: user.login,
            display_name: user.display_name,
            created_at: user.created_at.to_rfc3339(),
        }),
    ))
}

#[derive(Serialize)]
pub struct EnrolmentCreated {
    /// Give this to the device: `pushback device enroll <link>`. Single use.
    link: String,
    expires_at: String,
}

pub async fn create_enrolment(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(login): Path<String>,
) -> Result<(StatusCode, Json<EnrolmentCreated>), ApiError> {
    let e = state.guard.create_enrolment(&admin, &login).await?;
    let link = format!(
        "{}/enroll#{}",
        state.public_url.trim_end_matches('/'),
        e.token
    );
    Ok((
        StatusCode::CREATED,
        Json(EnrolmentCreated {
            link,
            expires_at: e.expires_at.to_rfc3339(),
        }),
    ))
}

#[derive(Serialize)]
pub struct DeviceView {
    id: String,
    name: String,
    key_type: &'static str,
    created_at: String,
    revoked_at: Option<String>,
    frozen_at: Option<String>,
}

impl From<DeviceRecord> for DeviceView {
    fn from(d: DeviceRecord) -> Self {
        Self {
            id: d.id,
            name: d.name,
            key_type: d.key_type.as_str(),
            created_at: d.created_at.to_rfc3339(),
            revoked_at: d.revoked_at.map(|t| t.to_rfc3339()),
            frozen_at: d.frozen_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize)]
pub struct Devices {
    devices: Vec<DeviceView>,
}

pub async fn list_devices(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(login): Path<String>,
) -> Result<Json<Devices>, ApiError> {
    let devices = state.guard.devices(&admin, &login).await?;
    Ok(Json(Devices {
        devices: devices.into_iter().map(DeviceView::from).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    name: String,
}

pub async fn rename_device(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    StrictJson(b): StrictJson<Rename>,
) -> Result<StatusCode, ApiError> {
    state.guard.rename_device(&admin, &id, &b.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_device(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.guard.revoke_device(&admin, &id).await?;
    tracing::info!(device = %id, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct StateView {
    login: String,
    state: UserState,
}

pub async fn user_state(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(login): Path<String>,
) -> Result<Json<StateView>, ApiError> {
    let s = state.guard.user_state(&admin, &login).await?;
    Ok(Json(StateView { login, state: s }))
}

pub async fn unlock(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(login): Path<String>,
) -> Result<Json<StateView>, ApiError> {
    let s = state.guard.unlock(&admin, &login).await?;
    tracing::warn!(user = %login, "push unlocked by an admin");
    Ok(Json(StateView { login, state: s }))
}

pub async fn lift_step_up(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(login): Path<String>,
) -> Result<Json<StateView>, ApiError> {
    let s = state.guard.lift_step_up(&admin, &login).await?;
    tracing::warn!(user = %login, "step-up requirement lifted by an admin");
    Ok(Json(StateView { login, state: s }))
}

pub async fn unfreeze_device(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.guard.unfreeze_device(&admin, &id).await?;
    tracing::warn!(device = %id, "device unfrozen by an admin");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIngestKey {
    /// What posts with it, e.g. "Okta event hook".
    name: String,
}

#[derive(Serialize)]
pub struct IngestKeyCreated {
    id: String,
    name: String,
    /// Shown once; only its hash is stored. Send as `Authorization: Bearer <key>`.
    ingest_key: String,
}

pub async fn create_ingest_key(
    State(state): State<AppState>,
    Admin(admin): Admin,
    StrictJson(b): StrictJson<NewIngestKey>,
) -> Result<(StatusCode, Json<IngestKeyCreated>), ApiError> {
    let (id, ingest_key) = state.guard.create_ingest_key(&admin, &b.name).await?;
    tracing::info!(key = %id, name = %b.name, "ingest key created");
    Ok((
        StatusCode::CREATED,
        Json(IngestKeyCreated {
            id,
            name: b.name,
            ingest_key,
        }),
    ))
}
