//! The actions agreed on the system call, for the wall's actions panel:
//! every open action (overdue ones first) and those closed in the last 24
//! hours, with who closed them. Actions carry no patient data (their text is
//! refused when it holds an NHS number or a date); discharge tasks are not
//! shown on the wall.
//!
//! [`follow`] reads the items from the live state every so often (the
//! projection folds `PF_TASKS` there); the control-room page renders the
//! panel with the page, and `GET /api/v1/actions` gives the panel's script
//! the same list.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pf_live_state::LiveState;
use pf_task_model::{Item, ItemKind, ItemState};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// How long a closed action stays on the wall.
const CLOSED_SHOWN_MS: i64 = 24 * 3600 * 1000;

/// One action as the wall shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WallAction {
    /// The item id.
    pub item_id: String,
    /// What was agreed.
    pub text: String,
    /// Who does it.
    pub owner: String,
    /// The owner's organisation.
    pub organisation: String,
    /// Due, UK time `HH:MM` (with the day when not today).
    pub due: String,
    /// Due, ms since the epoch.
    pub due_ms: i64,
    /// `open`, `done` or `cancelled`.
    pub state: ItemState,
    /// Open and past due.
    pub overdue: bool,
    /// Who closed it (empty while open).
    pub closed_by: String,
    /// When, UK time `HH:MM` (empty while open).
    pub closed_at: String,
}

/// The wall's actions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionsView {
    /// Open actions, overdue and soonest due first, then those closed in
    /// the last 24 hours, newest first.
    pub actions: Vec<WallAction>,
    /// How many open actions are overdue.
    pub overdue: usize,
}

fn at(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn uk_time(ms: i64, now: OffsetDateTime) -> String {
    at(ms).map_or_else(String::new, |t| {
        if pf_web::uk_time::date(t) == pf_web::uk_time::date(now) {
            pf_web::uk_time::hh_mm(t)
        } else {
            format!(
                "{} {}",
                pf_web::uk_time::day_month(t),
                pf_web::uk_time::hh_mm(t)
            )
        }
    })
}

/// The wall's view of `items` at `now`.
pub fn build(items: &[Item], now: OffsetDateTime) -> ActionsView {
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let mut open: Vec<&Item> = Vec::new();
    let mut closed: Vec<&Item> = Vec::new();
    for item in items.iter().filter(|i| i.kind == ItemKind::SystemAction) {
        match item.state {
            ItemState::Open => open.push(item),
            _ if now_ms - item.closed_ms <= CLOSED_SHOWN_MS => closed.push(item),
            _ => {}
        }
    }
    open.sort_by(|a, b| (a.due_ms, &a.item_id).cmp(&(b.due_ms, &b.item_id)));
    closed.sort_by(|a, b| (b.closed_ms, &b.item_id).cmp(&(a.closed_ms, &a.item_id)));
    let actions: Vec<WallAction> = open
        .into_iter()
        .chain(closed)
        .map(|item| WallAction {
            item_id: item.item_id.clone(),
            text: item.text.clone(),
            owner: item.owner.display.clone(),
            organisation: item.owner.organisation.clone(),
            due: uk_time(item.due_ms, now),
            due_ms: item.due_ms,
            state: item.state,
            overdue: item.overdue(now_ms),
            closed_by: item.closed_by.clone(),
            closed_at: if item.closed_ms == 0 {
                String::new()
            } else {
                uk_time(item.closed_ms, now)
            },
        })
        .collect();
    ActionsView {
        overdue: actions.iter().filter(|a| a.overdue).count(),
        actions,
    }
}

/// Reads the actions every `every` until shutdown.
pub async fn follow(
    mut reader: LiveState,
    sender: watch::Sender<Arc<ActionsView>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match reader.all_items().await {
            Ok(items) => {
                let view = build(&items, OffsetDateTime::now_utc());
                sender.send_if_modified(|current| {
                    if **current == view {
                        false
                    } else {
                        *current = Arc::new(view);
                        true
                    }
                });
            }
            Err(err) => tracing::warn!(cause = %err, "cannot read the actions; the panel stands"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// `GET /api/v1/actions`: the wall's actions (control-room viewers only).
pub async fn api(
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(denied) =
        crate::access::control_room_viewer(&app, &headers, Some(address.ip())).await
    {
        return crate::access::api_refusal(denied);
    }
    let view = ActionsView::clone(&app.actions.borrow());
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(view),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_task_model::Owner;

    fn action(id: &str, due_ms: i64, state: ItemState, closed_ms: i64) -> Item {
        Item {
            item_id: id.into(),
            kind: ItemKind::SystemAction,
            task_type: String::new(),
            text: format!("Action {id}"),
            owner: Owner {
                organisation: "RWE".into(),
                person: None,
                team: Some("Site".into()),
                display: "Site (RWE)".into(),
            },
            due_ms,
            state,
            discharge_id: String::new(),
            managed_by: String::new(),
            blocking: false,
            created_by: "lead".into(),
            created_ms: 0,
            closed_by: if closed_ms > 0 {
                "site-1".into()
            } else {
                String::new()
            },
            closed_ms,
            closing_note: String::new(),
        }
    }

    #[test]
    fn open_first_overdue_flagged_old_closed_ones_dropped() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid");
        let now_ms = 1_700_000_000_000;
        let mut task = action("t", now_ms - 1, ItemState::Open, 0);
        task.kind = ItemKind::DischargeTask;
        let items = [
            action("later", now_ms + 60_000, ItemState::Open, 0),
            action("late", now_ms - 60_000, ItemState::Open, 0),
            action("done", now_ms, ItemState::Done, now_ms - 1_000),
            action("old", now_ms, ItemState::Done, now_ms - 2 * CLOSED_SHOWN_MS),
            task,
        ];
        let view = build(&items, now);
        let ids: Vec<&str> = view.actions.iter().map(|a| a.item_id.as_str()).collect();
        assert_eq!(ids, ["late", "later", "done"]);
        assert_eq!(view.overdue, 1);
        assert!(view.actions[0].overdue);
        assert_eq!(view.actions[2].closed_by, "site-1");
    }
}
