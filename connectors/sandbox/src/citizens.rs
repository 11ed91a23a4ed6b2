//! The synthetic citizens: deterministic, plainly synthetic, and with data that makes
//! sense together across the four sources.
//!
//! CPR numbers: citizen `i` (0-based) is born on the 1st of month `i % 12 + 1` of year
//! `1960 + 5 * (i / 12)` and has serial `9900 + i`. The seventh digit 9 with a year from
//! 37 to 99 means the 1900s (CPR-kontoret's century rule), so every number parses as a
//! [`consent::Cpr`]; the serial block 9900-9999 on the 1st of a month is this sandbox's
//! own, and is what makes a number recognisably synthetic ([`is_synthetic`]).
//!
//! Profiles cycle so that every kind of case is there many times; the first three are
//! fixed for tests and the demo: citizen 0 is on sick leave (LÆ 265, letters, a job
//! centre plan with sickness benefit, a CV), citizen 1 has social measures only, and
//! citizen 2 has no data anywhere.

use std::sync::OnceLock;

use chrono::NaiveDate;
use connectors::jobcenter::{Activity, BenefitsResponse, CaseResponse, Contact, Payment, Plan, Visitation};
use connectors::jobnet_cv::{Cv, Education, EmploymentConditions, JobWanted, Language, WorkExperience};
use connectors::medcom::{DdbForm, Envelope, FormHeader, Letter, Party, Patient, Stamp, UserField, Xdis91};
use connectors::social::Measure;
use consent::Cpr;

/// How many citizens the sandbox has.
pub const COUNT: usize = 60;

/// The kind of case a citizen has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Sick leave: LÆ 265, letters, sickness benefit case with a plan, CV.
    SickLeave,
    /// Resource programme: LÆ 265, a letter, job centre case, social measure, CV.
    Rehabilitation,
    /// Social measures only.
    Social,
    /// Unemployed: job centre case, unemployment benefit, searchable CV.
    Unemployed,
    /// Flexjob assessment: job centre case, a letter, CV.
    Flexjob,
    /// Nothing in any source.
    NoData,
}

/// One synthetic citizen and everything the sources know about them.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub cpr: Cpr,
    pub given_name: String,
    pub surname: String,
    pub street: String,
    pub post_code: String,
    pub city: String,
    /// The person register's kommunekode of the municipality of residence (four digits,
    /// `0101` København, `0751` Aarhus; see [`municipality_code_of`]).
    pub municipality_code: String,
    /// Navne- og adressebeskyttelse in the person register (see [`address_protection_of`]).
    pub address_protection: bool,
    pub profile: Profile,
    pub lae265: Vec<DdbForm>,
    pub letters: Vec<Xdis91>,
    pub case: Option<CaseResponse>,
    pub benefits: Option<BenefitsResponse>,
    pub measures: Vec<Measure>,
    pub cv: Option<Cv>,
}

impl Citizen {
    pub fn name(&self) -> String {
        format!("{} {}", self.given_name, self.surname)
    }
}

/// All synthetic citizens, in a fixed order.
pub fn citizens() -> &'static [Citizen] {
    static ALL: OnceLock<Vec<Citizen>> = OnceLock::new();
    ALL.get_or_init(|| (0..COUNT).map(citizen).collect())
}

/// The citizen with this CPR number, if it is one of the sandbox's.
pub fn find(cpr: &Cpr) -> Option<&'static Citizen> {
    citizens().iter().find(|c| &c.cpr == cpr)
}

/// The CPR number of citizen `i` (see the module docs).
pub fn cpr_of(i: usize) -> Cpr {
    let month = i % 12 + 1;
    let yy = 60 + 5 * (i / 12);
    Cpr::parse(&format!("01{month:02}{yy:02}{}", 9900 + i)).expect("synthetic CPR numbers are valid")
}

/// Where citizen `i` lives, by the person register: every fifth (`i % 5 == 4`) in Aarhus
/// (`0751`), the others in København (`0101`).
pub fn municipality_code_of(i: usize) -> &'static str {
    if i % 5 == 4 { "0751" } else { "0101" }
}

/// Whether citizen `i` has name and address protection: every seventh from the fourth
/// (`i % 7 == 3`; citizen 3, unemployed, is one).
pub fn address_protection_of(i: usize) -> bool {
    i % 7 == 3
}

/// True for numbers from the sandbox's block: born on the 1st, serial 9900-9999.
pub fn is_synthetic(cpr: &Cpr) -> bool {
    let s = cpr.expose();
    s.starts_with("01") && s[6..].starts_with("99")
}

const GIVEN: [&str; 20] = [
    "Mette", "Lars", "Anne", "Jens", "Kirsten", "Peter", "Hanne", "Søren", "Susanne", "Niels", "Lene", "Henrik",
    "Marianne", "Morten", "Camilla", "Thomas", "Louise", "Rasmus", "Sofie", "Mikkel",
];
const SURNAMES: [&str; 15] = [
    "Nielsen",
    "Jensen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
];
const STREETS: [&str; 10] = [
    "Nørrebrogade",
    "Amagerbrogade",
    "Vesterbrogade",
    "Jagtvej",
    "Frederikssundsvej",
    "Istedgade",
    "Østerbrogade",
    "Valby Langgade",
    "Tagensvej",
    "Ålholmvej",
];
const AREAS: [(&str, &str); 5] = [
    ("2200", "København N"),
    ("2300", "København S"),
    ("1620", "København V"),
    ("2100", "København Ø"),
    ("2500", "Valby"),
];

const PROFILES: [Profile; 6] = [
    Profile::SickLeave,
    Profile::Rehabilitation,
    Profile::Social,
    Profile::Unemployed,
    Profile::Flexjob,
    Profile::NoData,
];

fn profile_of(i: usize) -> Profile {
    match i {
        0 => Profile::SickLeave,
        1 => Profile::Social,
        2 => Profile::NoData,
        _ => PROFILES[i % PROFILES.len()],
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn stamp(d: NaiveDate, time: &str) -> Stamp {
    Stamp { date: d, time: time.to_string() }
}

const JOBCENTER: &str = "Jobcenter København";

fn gp(i: usize) -> Party {
    let names = ["Lægerne på Nørrebro", "Lægehuset Valby", "Amager Lægecenter", "Lægerne i Sydhavnen"];
    Party {
        ean: format!("579000000{:04}", 1000 + i % 4),
        identifier: None,
        identifier_code: Some("lokationsnummer".into()),
        organisation_name: Some(names[i % 4].into()),
        department_name: None,
        medical_speciality_code: Some("almenmedicin".into()),
        street_name: None,
        district_name: None,
        post_code: None,
    }
}

fn municipality() -> Party {
    Party {
        ean: "5790000121441".into(),
        identifier: Some("101".into()),
        identifier_code: Some("kommunenummer".into()),
        organisation_name: Some("Københavns Kommune".into()),
        department_name: Some(JOBCENTER.into()),
        ..Party::default()
    }
}

fn citizen(i: usize) -> Citizen {
    let cpr = cpr_of(i);
    let given_name = GIVEN[i % GIVEN.len()].to_string();
    let surname = SURNAMES[(i * 7) % SURNAMES.len()].to_string();
    let (post_code, city) = AREAS[i % AREAS.len()];
    let street = format!("{} {}", STREETS[i % STREETS.len()], 1 + (i * 13) % 120);
    let profile = profile_of(i);
    let day = 1 + (i % 27) as u32;
    let patient = Patient {
        cpr,
        surname: Some(surname.clone()),
        given_name: Some(given_name.clone()),
        street_name: Some(street.clone()),
        district_name: Some(city.to_string()),
        post_code: Some(post_code.to_string()),
        episode_of_care_status: None,
    };
    let mut c = Citizen {
        cpr,
        given_name,
        surname,
        street,
        post_code: post_code.into(),
        city: city.into(),
        municipality_code: municipality_code_of(i).into(),
        address_protection: address_protection_of(i),
        profile,
        lae265: Vec::new(),
        letters: Vec::new(),
        case: None,
        benefits: None,
        measures: Vec::new(),
        cv: None,
    };
    let cprs = cpr.expose().to_string();
    match profile {
        Profile::SickLeave => {
            c.lae265.push(lae265(
                i,
                &patient,
                date(2025, 2, day),
                "Langvarige lænderygsmerter med udstråling til venstre ben.",
                "Kan arbejde 10-15 timer om ugen med skånehensyn; forventes bedring over 6-12 måneder.",
            ));
            c.letters.push(letter(
                i,
                0,
                &patient,
                date(2023, 5, day),
                "Henvisning til fysioterapi",
                "Patienten henvises til fysioterapi for lænderygsmerter.\nVenlig hilsen\nEgen læge",
            ));
            c.letters.push(letter(
                i,
                1,
                &patient,
                date(2025, 3, day),
                "Status på sygemelding",
                "Patienten er fortsat sygemeldt.\nDelvis raskmelding kan overvejes om 2 måneder.",
            ));
            c.case = Some(case(
                i,
                &cprs,
                date(2024, 11, day),
                "sygedagpengemodtager",
                "Sygemeldt, opfølgning",
                "Delvis tilbagevenden til job som lagerarbejder",
                &[
                    ("samtale", date(2023, 6, day), "Første opfølgningssamtale."),
                    ("telefon", date(2025, 1, day), "Status på behandling."),
                    ("samtale", date(2025, 3, day), "Plan for gradvis tilbagevenden drøftet."),
                ],
            ));
            c.benefits = Some(benefits(
                i,
                &cprs,
                "sygedagpenge",
                1_924_000,
                &[date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)],
            ));
            c.cv = Some(cv(i, &cprs, date(2025, 1, day), false, "Lagerarbejder", false));
        }
        Profile::Rehabilitation => {
            c.lae265.push(lae265(
                i,
                &patient,
                date(2025, 1, day),
                "Depression og angst, i behandling siden 2022.",
                "Funktionsevnen er nedsat; tæt koordineret indsats anbefales.",
            ));
            c.letters.push(letter(
                i,
                0,
                &patient,
                date(2024, 10, day),
                "Udtalelse til rehabiliteringsteamet",
                "Patienten har deltaget i samtaleforløb.\nBehandlingen fortsætter.",
            ));
            c.case = Some(case(
                i,
                &cprs,
                date(2024, 6, day),
                "ressourceforløb",
                "I ressourceforløb",
                "Afklaring af arbejdsevne i et koordineret forløb",
                &[
                    ("rundbordssamtale", date(2024, 9, day), "Rehabiliteringsteamet indstillede ressourceforløb."),
                    ("samtale", date(2025, 2, day), "Opfølgning med koordinerende sagsbehandler."),
                ],
            ));
            c.benefits =
                Some(benefits(i, &cprs, "ressourceforløbsydelse", 1_610_000, &[date(2025, 1, 31), date(2025, 2, 28)]));
            c.measures.push(measure(i, 0, "Socialpædagogisk støtte", "serviceloven § 85", date(2023, 4, day), None));
            c.cv = Some(cv(i, &cprs, date(2024, 8, day), false, "Kontorassistent", false));
        }
        Profile::Social => {
            c.measures.push(measure(i, 0, "Socialpædagogisk støtte", "serviceloven § 85", date(2019, 9, day), None));
            c.measures.push(measure(
                i,
                1,
                "Midlertidigt botilbud",
                "serviceloven § 107",
                date(2020, 1, day),
                Some(date(2022, 6, 30)),
            ));
            c.measures.push(measure(
                i,
                2,
                "Kontaktperson",
                "serviceloven § 85",
                date(2024, 8, day),
                Some(date(2025, 8, 31)),
            ));
        }
        Profile::Unemployed => {
            c.case = Some(case(
                i,
                &cprs,
                date(2025, 1, day),
                "dagpengemodtager",
                "Jobparat",
                "Job som butiksassistent inden for 3 måneder",
                &[
                    ("samtale", date(2025, 2, day), "CV-samtale."),
                    ("brev", date(2025, 3, day), "Indkaldelse til jobsamtale."),
                ],
            ));
            c.benefits = Some(benefits(i, &cprs, "dagpenge", 2_057_500, &[date(2025, 2, 28), date(2025, 3, 31)]));
            c.cv = Some(cv(i, &cprs, date(2025, 2, day), true, "Butiksassistent", false));
        }
        Profile::Flexjob => {
            c.letters.push(letter(
                i,
                0,
                &patient,
                date(2024, 12, day),
                "Helbredsoplysninger til fleksjobvurdering",
                "Varige begrænsninger i arbejdsevnen efter arbejdsskade.\nKan arbejde 15 timer om ugen.",
            ));
            c.case = Some(case(
                i,
                &cprs,
                date(2024, 9, day),
                "fleksjobvisiteret",
                "Ledig fleksjobvisiteret",
                "Fleksjob 15 timer om ugen",
                &[
                    ("samtale", date(2024, 10, day), "Afklaring af skånehensyn."),
                    ("samtale", date(2025, 1, day), "Virksomhedspraktik aftalt."),
                ],
            ));
            c.cv = Some(cv(i, &cprs, date(2025, 1, day), true, "Administrativ medarbejder", true));
        }
        Profile::NoData => {}
    }
    c
}

fn lae265(i: usize, patient: &Patient, sent: NaiveDate, health: &str, function: &str) -> DdbForm {
    DdbForm {
        form: FormHeader {
            identifier: format!("LAE265-{i:03}"),
            sent: stamp(sent, "09:30"),
            type_code: DdbForm::LAE265.into(),
            version_code: "LÆ265-2023".into(),
            title: Some("LÆ 265 Lægeattest til rehabiliteringsteamet".into()),
        },
        sender: gp(i),
        receiver: municipality(),
        patient: patient.clone(),
        fields: vec![
            UserField { name: "Helbredsoplysninger".into(), value: health.into() },
            UserField { name: "Funktionsevne".into(), value: function.into() },
            UserField {
                name: "Behandling".into(), value: "Fortsat behandling hos egen læge og fysioterapeut.".into()
            },
            UserField { name: "Prognose".into(), value: "Afhænger af behandlingsforløbet.".into() },
        ],
    }
}

fn letter(i: usize, n: usize, patient: &Patient, sent: NaiveDate, subject: &str, text: &str) -> Xdis91 {
    Xdis91 {
        envelope: Envelope {
            sent: stamp(sent, "14:05"),
            identifier: format!("ENV{i:03}{n}"),
            acknowledgement_code: "plustypekvitt".into(),
        },
        letter: Letter {
            identifier: format!("XDIS91-{i:03}-{n}"),
            version_code: "XD9134L".into(),
            statistical_code: "XDIS91".into(),
            authorisation: Some(stamp(sent, "14:00")),
            type_code: Some("XDIS91".into()),
            status_code: Some("nytbrev".into()),
        },
        sender: gp(i),
        receiver: municipality(),
        patient: patient.clone(),
        priority: Some("rutine".into()),
        subject: Some(subject.into()),
        text: text.into(),
        references: Vec::new(),
    }
}

fn case(
    i: usize,
    cpr: &str,
    visited: NaiveDate,
    group: &str,
    status: &str,
    goal: &str,
    contacts: &[(&str, NaiveDate, &str)],
) -> CaseResponse {
    CaseResponse {
        civil_registration_identifier: cpr.into(),
        jobcenter: JOBCENTER.into(),
        visitation: Some(Visitation {
            id: format!("VIS-{i:03}"),
            date: visited,
            target_group: group.into(),
            status: status.into(),
            follow_up_category: None,
        }),
        contacts: contacts
            .iter()
            .enumerate()
            .map(|(n, (kind, d, summary))| Contact {
                id: format!("KON-{i:03}-{n}"),
                date: *d,
                kind: (*kind).into(),
                summary: (*summary).into(),
                caseworker: "Sagsbehandler B. Holm".into(),
            })
            .collect(),
        plan: Some(Plan {
            id: format!("PLAN-{i:03}"),
            updated: contacts.last().map(|c| c.1).unwrap_or(visited),
            goal: goal.into(),
            activities: vec![Activity { title: "Opfølgningssamtaler hver 4. uge".into(), from: visited, to: None }],
        }),
    }
}

fn benefits(i: usize, cpr: &str, benefit: &str, amount_ore: i64, dates: &[NaiveDate]) -> BenefitsResponse {
    BenefitsResponse {
        civil_registration_identifier: cpr.into(),
        jobcenter: JOBCENTER.into(),
        payments: dates
            .iter()
            .enumerate()
            .map(|(n, d)| Payment {
                id: format!("UDB-{i:03}-{n}"),
                date: *d,
                benefit: benefit.into(),
                amount_ore,
                period_from: d.with_day0(0).expect("day 1"),
                period_to: *d,
            })
            .collect(),
    }
}

use chrono::Datelike;

fn measure(i: usize, n: usize, title: &str, paragraph: &str, start: NaiveDate, end: Option<NaiveDate>) -> Measure {
    Measure {
        id: format!("FOR-{i:03}-{n}"),
        title: title.into(),
        legal_paragraph: paragraph.into(),
        start,
        end,
        responsible_unit: "Socialforvaltningen, Københavns Kommune".into(),
    }
}

fn cv(i: usize, cpr: &str, updated: NaiveDate, searchable: bool, job: &str, flexjob: bool) -> Cv {
    Cv {
        civil_registration_identifier: cpr.into(),
        cv_id: format!("CV-{i:03}"),
        last_updated: updated,
        searchable,
        educations: vec![Education {
            title: "Erhvervsuddannelse".into(),
            institution: "TEC".into(),
            from: date(1990 + (i % 10) as i32, 8, 1),
            to: Some(date(1993 + (i % 10) as i32, 6, 30)),
        }],
        work_experiences: vec![WorkExperience {
            employer: "Synthetic A/S".into(),
            title: job.into(),
            from: date(2010, 3, 1),
            to: Some(date(2024, 6, 30)),
            description: format!("{job} i 14 år."),
        }],
        jobs_wanted: vec![JobWanted { title: job.into(), occupation_code: None }],
        employment_conditions: EmploymentConditions {
            full_time: !flexjob,
            part_time: true,
            hours_per_week: flexjob.then_some(15),
            flexjob,
            work_area: "Storkøbenhavn".into(),
        },
        competences: vec!["Samarbejde".into(), "Kundeservice".into()],
        languages: vec![
            Language { language: "dansk".into(), level: "modersmål".into() },
            Language { language: "engelsk".into(), level: "godt".into() },
        ],
        driving_licences: if i.is_multiple_of(2) { vec!["B".into()] } else { Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizens_are_many_distinct_synthetic_and_varied() {
        let all = citizens();
        assert!(all.len() >= 50);
        let mut cprs: Vec<_> = all.iter().map(|c| c.cpr).collect();
        cprs.sort();
        cprs.dedup();
        assert_eq!(cprs.len(), all.len());
        assert!(all.iter().all(|c| is_synthetic(&c.cpr) && c.cpr.birth_date().year() >= 1960));
        assert_eq!(all[0].profile, Profile::SickLeave);
        assert!(!all[0].lae265.is_empty() && all[0].case.is_some() && all[0].cv.is_some());
        assert!(!all[1].measures.is_empty());
        assert_eq!(all[2].profile, Profile::NoData);
        for p in PROFILES {
            assert!(all.iter().filter(|c| c.profile == p).count() >= 5, "{p:?}");
        }
    }

    #[test]
    fn the_person_register_has_residents_of_two_municipalities_some_protected() {
        let all = citizens();
        let with_benefits = |code: &str, protected: bool| {
            all.iter()
                .filter(|c| c.benefits.is_some() && c.municipality_code == code && c.address_protection == protected)
                .count()
        };
        assert!(with_benefits("0101", false) >= 3);
        assert!(with_benefits("0751", false) >= 3);
        assert!(with_benefits("0101", true) >= 1);
        assert!(all[3].address_protection && all[3].benefits.is_some());
        assert!(all.iter().all(|c| connectors::person::parse_municipality(&c.municipality_code).is_some()));
    }
}
