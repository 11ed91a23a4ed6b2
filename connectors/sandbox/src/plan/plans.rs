//! The plan service's kept state: the plans by citizen, seeded at start (a module of its
//! own so the sandbox's shared state can hold it without depending on the service).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use connectors::plan::{Effort, Goal, Milestone, Plan};
use consent::Cpr;

use crate::{Profile, citizens};

/// The plans, by citizen.
pub(crate) struct Plans(pub(crate) Mutex<BTreeMap<Cpr, Plan>>);

impl Default for Plans {
    fn default() -> Self {
        let seeded = citizens().iter().filter(|c| c.profile == Profile::Rehabilitation).map(|c| (c.cpr, seed(c.cpr)));
        Plans(Mutex::new(seeded.collect()))
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The seeded plan: two departments, the rehabilitation team and the social services.
pub fn seed(cpr: Cpr) -> Plan {
    Plan {
        civil_registration_identifier: cpr.expose().to_string(),
        plan_id: format!("PLAN-{}", &cpr.expose()[6..]),
        version: 1,
        goals: vec![
            Goal { id: "g-1".into(), text: "Afklare arbejdsevnen og komme tættere på et job".into() },
            Goal { id: "g-2".into(), text: "Have en stabil hverdag i egen bolig".into() },
        ],
        efforts: vec![
            Effort {
                id: "e-1".into(),
                unit: "kk.jobcenter.rehab".into(),
                unit_name: "Rehabiliteringsteamet, Jobcenter København".into(),
                title: "Ressourceforløb med mentor".into(),
                description: "Mentor en gang om ugen og virksomhedspraktik på 10 timer.".into(),
                from: date(2024, 10, 1),
                to: Some(date(2025, 9, 30)),
            },
            Effort {
                id: "e-2".into(),
                unit: "kk.social".into(),
                unit_name: "Socialforvaltningen, Københavns Kommune".into(),
                title: "Socialpædagogisk støtte".into(),
                description: "Støtte i hjemmet to gange om ugen (serviceloven § 85).".into(),
                from: date(2023, 4, 1),
                to: None,
            },
        ],
        milestones: vec![Milestone {
            id: "m-1".into(),
            unit: "kk.jobcenter.rehab".into(),
            title: "Praktik påbegyndt".into(),
            due: date(2025, 5, 1),
            reached: false,
        }],
        statements: Vec::new(),
    }
}
