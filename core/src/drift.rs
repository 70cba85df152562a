//! A plan rendered for people and scripts: a table, JSON (resource, field, desired,
//! actual) or Markdown. Pure.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::plan::{Action, Plan};

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{"domain", "in_sync", "summary", "changes": [...]}`
pub fn json(domain: &str, plan: &Plan) -> Value {
    json!({
        "domain": domain,
        "in_sync": plan.is_empty(),
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "replace": plan.count(Action::Replace),
            "delete": plan.count(Action::Delete),
        },
        "changes": plan.changes,
    })
}

fn rows(plan: &Plan) -> Vec<[String; 5]> {
    let mut out = Vec::new();
    for c in &plan.changes {
        if c.fields.is_empty() {
            out.push([
                c.resource.to_string(),
                c.action.as_str().into(),
                "-".into(),
                "-".into(),
                c.reason.clone(),
            ]);
        }
        for f in &c.fields {
            out.push([
                c.resource.to_string(),
                c.action.as_str().into(),
                f.field.clone(),
                show(&f.desired),
                show(&f.actual),
            ]);
        }
    }
    out
}

/// A plain-text table; "in sync" when there is nothing to do.
pub fn table(domain: &str, plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("{domain}: in sync, nothing to change\n");
    }
    let header = ["RESOURCE", "ACTION", "FIELD", "DESIRED", "ACTUAL / REASON"].map(String::from);
    let rows = rows(plan);
    let mut width = header.clone().map(|h| h.len());
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count().min(60));
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:w$}", c, w = width[i]))
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(
        s,
        "\n{domain}: {} to create, {} to update, {} to replace, {} to delete",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Replace),
        plan.count(Action::Delete)
    );
    s
}

pub fn markdown(domain: &str, plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("**{domain}**: in sync.\n");
    }
    let mut s = format!(
        "### Drift in `{domain}`\n\n| resource | action | field | desired | actual / reason |\n|---|---|---|---|---|\n"
    );
    for r in rows(plan) {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            cells[0], cells[1], cells[2], cells[3], cells[4]
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, FieldChange, Kind, ResourceId};

    fn plan() -> Plan {
        Plan {
            changes: vec![
                Change {
                    resource: ResourceId::new(Kind::SecurityGroup, "database"),
                    action: Action::Update,
                    physical_id: Some("sg-1".into()),
                    fields: vec![FieldChange {
                        field: "ingress".into(),
                        desired: json!([]),
                        actual: json!(["tcp:22:0.0.0.0/0"]),
                    }],
                    reason: "ingress differs".into(),
                },
                Change {
                    resource: ResourceId::new(Kind::Subnet, "public-a"),
                    action: Action::Create,
                    physical_id: None,
                    fields: vec![],
                    reason: "does not exist".into(),
                },
            ],
        }
    }

    #[test]
    fn renders_table_json_markdown() {
        let t = table("demo", &plan());
        assert!(t.lines().next().unwrap().starts_with("RESOURCE"));
        assert!(
            t.contains("security-group/database  update  ingress  []"),
            "{t}"
        );
        assert!(t.contains("subnet/public-a") && t.contains("does not exist"));
        assert!(t.contains("1 to create, 1 to update, 0 to replace, 0 to delete"));
        let j = json("demo", &plan());
        assert_eq!(j["in_sync"], false);
        assert_eq!(
            j["changes"][0]["fields"][0]["actual"],
            json!(["tcp:22:0.0.0.0/0"])
        );
        assert_eq!(j["changes"][0]["resource"]["kind"], "security-group");
        let m = markdown("demo", &plan());
        assert!(m.contains("| `security-group/database` | update | ingress |"));
        assert_eq!(
            table("demo", &Plan::default()),
            "demo: in sync, nothing to change\n"
        );
    }
}
