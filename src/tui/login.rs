//! Login inside the console, on a database with registered operators: a badge scan asks for
//! that operator's PIN and switches the console to them once the store thread has checked it
//! (`services::authority`); an idle console locks, every key going to the PIN field, until
//! the operator's PIN (or another badge and its PIN) is given. The screen's state stays as it
//! was underneath. Pure, like the rest of `update`: the event loop decides when to lock.

use crate::tui::app::{open_input, App, Effect, InputPurpose, Level, Modal};
use crate::tui::msg::Request;

/// A PIN on its way to the store thread: never printed, not even in a debug log.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Where a login stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginState {
    /// The badge (or operator id) whose PIN is being asked or checked.
    pub badge: Option<String>,
    /// Locked after idling: nothing but the PIN field until someone logs in.
    pub locked: bool,
    /// The database has registered operators: badges log in with a PIN, idling locks.
    pub enforced: bool,
}

/// A badge was scanned: ask for its PIN (the console stays its current operator's meanwhile).
pub fn start(app: &mut App, badge: &str) {
    app.login.badge = Some(badge.to_string());
    let purpose = if app.login.locked {
        InputPurpose::Unlock
    } else {
        InputPurpose::Pin
    };
    open_input(app, purpose, &prompt(app, badge), String::new());
    app.dirty = true;
}

fn prompt(app: &App, badge: &str) -> String {
    if app.login.locked {
        format!("LOCKED - PIN for {badge} (or scan your badge)")
    } else {
        format!("PIN for {badge} (Esc: stay {})", app.session.operator)
    }
}

/// Lock the console after idling: the current operator's PIN, or another badge, opens it.
pub fn lock(app: &mut App) {
    if app.login.locked {
        return;
    }
    app.login.locked = true;
    app.help = false;
    // A signature half given is abandoned with its field: nothing is changed.
    app.signing = None;
    let current = app.session.operator.clone();
    start(app, &current);
    app.say(
        Level::Info,
        "locked after idling: the screen is kept as it was",
    );
}

/// The PIN field was submitted: a badge scanned into it starts over with that badge; else
/// the PIN goes to the store thread to be checked.
pub fn submit(app: &mut App, text: String) -> Vec<Effect> {
    let text = text.trim().to_string();
    if let Some(badge) = text.strip_prefix("OP:").map(str::trim) {
        if !badge.is_empty() {
            start(app, badge);
            return Vec::new();
        }
    }
    let Some(badge) = app.login.badge.clone() else {
        return Vec::new();
    };
    if app.login.locked {
        // Still locked until the answer: the field stays, empty.
        open_input(
            app,
            InputPurpose::Unlock,
            &format!("LOCKED - checking the PIN for {badge}"),
            String::new(),
        );
    }
    vec![Effect::Request(Request::Login {
        badge,
        pin: Pin(text),
    })]
}

/// The store thread accepted the PIN: the console is `operator`'s now.
pub fn logged_in(app: &mut App, operator: String) -> Vec<Effect> {
    app.login.badge = None;
    app.login.locked = false;
    if matches!(&app.modal, Some(Modal::Input(i)) if is_login(i.purpose)) {
        app.modal = None;
    }
    app.say(Level::Good, format!("operator is now {operator}"));
    app.session.operator = operator;
    Vec::new()
}

/// The store thread refused (wrong PIN, unknown or blocked badge): said; a locked console
/// asks again.
pub fn refused(app: &mut App, why: String) -> Vec<Effect> {
    if app.login.locked {
        // The field covers the message row: the prompt says why.
        let current = app.session.operator.clone();
        app.login.badge = Some(current.clone());
        let short = why.trim_end_matches("; nothing was changed");
        open_input(
            app,
            InputPurpose::Unlock,
            &format!("LOCKED ({short}) - PIN for {current}"),
            String::new(),
        );
        app.say(Level::Problem, why);
    } else {
        app.say(Level::Problem, why);
        app.login.badge = None;
    }
    Vec::new()
}

/// Whether a field is a login field.
pub fn is_login(purpose: InputPurpose) -> bool {
    matches!(purpose, InputPurpose::Pin | InputPurpose::Unlock)
}

/// Whether a field holds a PIN (its text is never shown).
pub fn is_secret(purpose: InputPurpose) -> bool {
    is_login(purpose) || purpose == InputPurpose::Signature
}

/// Esc on a PIN field: a locked console stays locked; otherwise the login is abandoned.
pub fn cancelled(app: &mut App, purpose: InputPurpose) -> bool {
    if purpose == InputPurpose::Unlock {
        let badge = app.login.badge.clone().unwrap_or_default();
        start(app, &badge);
        return false;
    }
    app.login.badge = None;
    true
}
