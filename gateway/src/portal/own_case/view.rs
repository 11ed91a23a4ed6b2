//! A released document as a person reads it: the source's JSON as labelled lines in
//! Danish, technical fields (ids, codes, CPR numbers, EAN numbers) left out. Pure, so
//! every rule is tested here.

use serde_json::Value;

pub use crate::portal::pages::Row;

/// At most this many lines per document; the page says when a document was cut.
pub const MAX_ROWS: usize = 200;
const MAX_DEPTH: usize = 4;

/// The Danish label of a field the citizen should see; `None` leaves the field out.
fn label(key: &str) -> Option<&'static str> {
    Some(match snake(key).as_str() {
        "date" => "Dato",
        "time" => "Tidspunkt",
        "kind" => "Type",
        "summary" => "Resumé",
        "caseworker" => "Sagsbehandler",
        "goal" => "Mål",
        "status" => "Status",
        "target_group" => "Målgruppe",
        "benefit" => "Ydelse",
        "amount_ore" => "Beløb",
        "period_from" => "Periode fra",
        "period_to" => "Periode til",
        "title" => "Titel",
        "text" => "Tekst",
        "subject" => "Emne",
        "activities" => "Aktiviteter",
        "contacts" => "Samtaler og kontakter",
        "visitation" => "Visitation",
        "plan" => "Plan",
        "payments" => "Udbetalinger",
        "measures" => "Foranstaltninger",
        "description" => "Beskrivelse",
        "legal_paragraph" => "Lovgrundlag",
        "start" => "Start",
        "end" => "Slut",
        "from" => "Fra",
        "to" => "Til",
        "responsible_unit" => "Ansvarlig enhed",
        "jobcenter" => "Jobcenter",
        "employer" => "Arbejdsgiver",
        "educations" => "Uddannelser",
        "work_experiences" => "Erhvervserfaring",
        "jobs_wanted" => "Ønskede job",
        "competences" => "Kompetencer",
        "languages" | "language" => "Sprog",
        "level" => "Niveau",
        "driving_licences" => "Kørekort",
        "institution" => "Uddannelsessted",
        "name" => "Navn",
        "organisation_name" => "Afsender",
        "department_name" => "Afdeling",
        "sender" => "Afsender",
        "receiver" => "Modtager",
        "letter" => "Brev",
        "fields" => "Oplysninger",
        "value" => "Svar",
        "updated" => "Opdateret",
        "last_updated" => "Senest opdateret",
        "work_area" => "Arbejdsområde",
        "hours_per_week" => "Timer om ugen",
        "flexjob" => "Fleksjob",
        "follow_up_category" => "Opfølgningskategori",
        "sent" => "Sendt",
        // The coordinated plan and the departments' summaries.
        "goals" => "Mål",
        "efforts" => "Indsatser",
        "unit_name" => "Ansvarlig",
        "milestones" => "Delmål",
        "due" => "Frist",
        "reached" => "Nået",
        "statements" => "Mit perspektiv",
        "version" => "Version",
        "contact" => "Din kontaktperson",
        "phone" => "Telefon",
        "appointments" => "Næste aftaler",
        "open_cases" => "Åbne sager",
        "opened" => "Oprettet",
        _ => return None,
    })
}

/// `targetGroup` → `target_group`.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A scalar as text: dates as 30.11.2026, øre as kroner, booleans as Ja/Nej.
fn scalar(key: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => d.format("%d.%m.%Y").to_string(),
            Err(_) => s.clone(),
        }),
        Value::Number(n) if snake(key) == "amount_ore" => n.as_i64().map(kroner),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Ja" } else { "Nej" }.into()),
        _ => None,
    }
}

/// 123456 øre → "1.234,56 kr."
fn kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let ore = ore.unsigned_abs();
    let whole = (ore / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{:02} kr.", ore % 100)
}

/// The document's lines (see the module docs).
pub fn rows(content: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    walk(content, 0, &mut out);
    out.truncate(MAX_ROWS);
    out
}

fn walk(v: &Value, depth: usize, out: &mut Vec<Row>) {
    let Value::Object(map) = v else { return };
    for (key, value) in map {
        if out.len() >= MAX_ROWS {
            return;
        }
        let Some(label) = label(key) else { continue };
        match value {
            Value::Object(_) if depth < MAX_DEPTH => {
                out.push(Row { depth, label: label.into(), value: String::new() });
                walk(value, depth + 1, out);
            }
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                let texts: Vec<String> = items.iter().filter_map(|i| scalar(key, i)).collect();
                if !texts.is_empty() {
                    out.push(Row { depth, label: label.into(), value: texts.join(", ") });
                }
            }
            Value::Array(items) if depth < MAX_DEPTH => {
                if items.is_empty() {
                    continue;
                }
                out.push(Row { depth, label: label.into(), value: String::new() });
                for item in items {
                    walk(item, depth + 1, out);
                }
            }
            other => {
                if let Some(text) = scalar(key, other).filter(|t| !t.trim().is_empty()) {
                    out.push(Row { depth, label: label.into(), value: text });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(depth: usize, label: &str, value: &str) -> Row {
        Row { depth, label: label.into(), value: value.into() }
    }

    #[test]
    fn a_job_centre_case_reads_in_danish_without_ids_or_cpr() {
        let content = json!({
            "civilRegistrationIdentifier": "0101709901",
            "jobcenter": "Jobcenter København",
            "visitation": {"id": "v-1", "date": "2026-10-01", "targetGroup": "sygedagpengemodtager", "status": "aktiv"},
            "contacts": [
                {"id": "c-1", "date": "2026-11-02", "kind": "samtale", "summary": "Opfølgning", "caseworker": "anna.jensen"}
            ],
            "plan": null,
        });
        let r = rows(&content);
        assert_eq!(
            r,
            vec![
                row(0, "Jobcenter", "Jobcenter København"),
                row(0, "Visitation", ""),
                row(1, "Dato", "01.10.2026"),
                row(1, "Målgruppe", "sygedagpengemodtager"),
                row(1, "Status", "aktiv"),
                row(0, "Samtaler og kontakter", ""),
                row(1, "Dato", "02.11.2026"),
                row(1, "Type", "samtale"),
                row(1, "Resumé", "Opfølgning"),
                row(1, "Sagsbehandler", "anna.jensen"),
            ],
            "in the source's order"
        );
        let all = format!("{r:?}");
        assert!(!all.contains("0101709901") && !all.contains("v-1") && !all.contains("c-1"));
    }

    #[test]
    fn amounts_booleans_lists_and_limits() {
        assert_eq!(kroner(123456), "1.234,56 kr.");
        assert_eq!(kroner(5), "0,05 kr.");
        assert_eq!(kroner(-100_000_000), "-1.000.000,00 kr.");
        let r = rows(&json!({"amountOre": 1_250_000, "flexjob": true, "languages": ["dansk", "engelsk"]}));
        assert_eq!(
            r,
            vec![row(0, "Beløb", "12.500,00 kr."), row(0, "Fleksjob", "Ja"), row(0, "Sprog", "dansk, engelsk")]
        );
        let many: Vec<Value> = (0..500).map(|i| json!({"title": format!("t{i}")})).collect();
        assert_eq!(rows(&json!({"activities": many})).len(), MAX_ROWS);
        // Not an object: nothing to show.
        assert!(rows(&json!("text")).is_empty());
    }
}
