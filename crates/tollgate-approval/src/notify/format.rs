//! What a notification says, in the receiver's own format: a Slack
//! incoming-webhook message (Block Kit), a Microsoft Teams Workflows
//! message (an Adaptive Card), or Tollgate's JSON.

use serde::Deserialize;
use serde_json::{Value, json};

use super::NotifyEvent;
use crate::Approval;

/// The body a receiver understands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Format {
    /// `{"event", "approval", "text"}` — the approval as the API shows it;
    /// signed when a secret is configured.
    #[default]
    Json,
    /// A Slack incoming-webhook message: `text` (the fallback) and blocks.
    Slack,
    /// A Teams Workflows ("Post to a channel when a webhook request is
    /// received") message carrying an Adaptive Card.
    Teams,
}

impl Format {
    /// The name in configuration and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
            Format::Teams => "teams",
        }
    }
}

/// What a notification tells approvers to run, and where the approval is.
#[derive(Debug, Clone)]
pub struct Hints {
    /// The approve command, `{id}` replaced by the approval's id.
    pub approve: String,
    /// The deny command.
    pub deny: String,
    /// The gateway's external URL (`https://tollgate.example.com`), for a
    /// link to the approval in the approvals API; without it the path is
    /// shown.
    pub external_url: Option<String>,
}

impl Default for Hints {
    fn default() -> Self {
        Hints {
            approve: "kubectl tollgate approvals approve {id}".to_owned(),
            deny: "kubectl tollgate approvals deny {id} --reason \"…\"".to_owned(),
            external_url: None,
        }
    }
}

impl Hints {
    fn approve(&self, id: &str) -> String {
        self.approve.replace("{id}", id)
    }

    fn deny(&self, id: &str) -> String {
        self.deny.replace("{id}", id)
    }

    /// The approval in the approvals API.
    pub fn link(&self, id: &str) -> String {
        let path = format!("{}/{id}", crate::API_PREFIX);
        match &self.external_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path,
        }
    }
}

/// The one-line text for chat tools (and the `text` of JSON and Slack
/// bodies).
pub fn notification_text(event: NotifyEvent, a: &Approval, approve_hint: &str) -> String {
    match event {
        NotifyEvent::Requested => format!(
            ":hourglass: {} ({}) asks to run `{}` — rule {}: {}. {} must approve: `{}`",
            a.requester.username,
            a.requester.owner,
            a.request.command,
            a.rule,
            a.message,
            a.approvers.describe(),
            approve_hint.replace("{id}", &a.id)
        ),
        NotifyEvent::Approved => format!(
            ":white_check_mark: approval {} for `{}` — {} ({} of {})",
            a.id,
            a.request.command,
            a.approvals.last().map_or("?", |v| v.by.username.as_str()),
            a.approvals.len(),
            a.approvers.count
        ),
        NotifyEvent::Denied => format!(
            ":no_entry: approval {} for `{}` denied by {}: {}",
            a.id,
            a.request.command,
            a.denial.as_ref().map_or("?", |v| v.by.username.as_str()),
            a.denial.as_ref().map_or("", |v| v.reason.as_str())
        ),
    }
}

/// The body for `format`.
pub fn body(format: Format, event: NotifyEvent, a: &Approval, hints: &Hints) -> Value {
    match format {
        Format::Json => json!({
            "event": event.as_str(),
            "approval": a,
            "text": notification_text(event, a, &hints.approve),
            "link": hints.link(&a.id),
        }),
        Format::Slack => slack(event, a, hints),
        Format::Teams => teams(event, a, hints),
    }
}

fn title(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Requested => "Approval requested",
        NotifyEvent::Approved => "Approved",
        NotifyEvent::Denied => "Denied",
    }
}

fn who(a: &Approval) -> String {
    if a.requester.owner.is_empty() {
        a.requester.username.clone()
    } else {
        format!("{} (owner {})", a.requester.username, a.requester.owner)
    }
}

fn decision(event: NotifyEvent, a: &Approval) -> Option<String> {
    match event {
        NotifyEvent::Requested => None,
        NotifyEvent::Approved => Some(format!(
            "approved by {} ({} of {})",
            a.approvals.last().map_or("?", |v| v.by.username.as_str()),
            a.approvals.len(),
            a.approvers.count
        )),
        NotifyEvent::Denied => Some(format!(
            "denied by {}: {}",
            a.denial.as_ref().map_or("?", |v| v.by.username.as_str()),
            a.denial.as_ref().map_or("", |v| v.reason.as_str())
        )),
    }
}

/// Slack's three control characters; with them escaped, nothing a
/// requester controls can become a mention (`<!channel>`) or a link.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text inside a Slack code span or block: escaped, and no backquote that
/// would close it.
fn slack_code(s: &str) -> String {
    slack_escape(s).replace('`', "ˋ")
}

fn slack(event: NotifyEvent, a: &Approval, hints: &Hints) -> Value {
    let e = slack_escape;
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Who*\n{}", e(&who(a)))}),
        json!({"type": "mrkdwn", "text": format!("*Rule*\n{}: {}", e(&a.rule), e(&a.message))}),
        json!({"type": "mrkdwn", "text": format!("*Approvers*\n{}", e(&a.approvers.describe()))}),
        json!({"type": "mrkdwn", "text": format!(
            "*Waits until*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            a.pending_until,
            tollgate_kube::time::format_time(std::time::Duration::from_secs(a.pending_until))
        )}),
    ];
    if let Some(d) = decision(event, a) {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Decision*\n{}", e(&d))}));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("{}: {}", title(event), a.id), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("```{}```", slack_code(&a.request.command))}}),
        json!({"type": "section", "fields": fields}),
    ];
    if event == NotifyEvent::Requested {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "*Approve:* `{}`\n*Deny:* `{}`",
            slack_code(&hints.approve(&a.id)),
            slack_code(&hints.deny(&a.id))
        )}}));
    }
    let link = hints.link(&a.id);
    let link_text = if link.starts_with("https://") {
        format!("<{}|{}>", slack_escape(&link), slack_escape(&a.id))
    } else {
        format!("`{}`", slack_code(&link))
    };
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("Tollgate · approvals API: {link_text}")}
    ]}));
    json!({
        "text": slack_escape(&notification_text(event, a, &hints.approve)),
        "blocks": blocks,
    })
}

fn teams(event: NotifyEvent, a: &Approval, hints: &Hints) -> Value {
    let mut facts = vec![
        json!({"title": "Who", "value": who(a)}),
        json!({"title": "Rule", "value": format!("{}: {}", a.rule, a.message)}),
        json!({"title": "Approvers", "value": a.approvers.describe()}),
        json!({"title": "Waits until", "value": tollgate_kube::time::format_time(std::time::Duration::from_secs(a.pending_until))}),
    ];
    if let Some(d) = decision(event, a) {
        facts.push(json!({"title": "Decision", "value": d}));
    }
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
               "text": format!("{}: {}", title(event), a.id)}),
        json!({"type": "TextBlock", "fontType": "Monospace", "wrap": true, "text": a.request.command}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if event == NotifyEvent::Requested {
        body.push(json!({"type": "TextBlock", "fontType": "Monospace", "wrap": true,
                         "text": format!("{}\n\n{}", hints.approve(&a.id), hints.deny(&a.id))}));
    }
    let link = hints.link(&a.id);
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if link.starts_with("https://") {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open the approval", "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Nothing a requester writes reaches Slack as a control sequence,
        /// and the text is all still there.
        #[test]
        fn slack_escaping_leaves_no_control_characters_and_loses_nothing(s in ".{0,60}") {
            let e = slack_escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>'));
            let back = e.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            prop_assert_eq!(&back, &s);
            prop_assert!(!slack_code(&s).contains('`'));
        }
    }
}
